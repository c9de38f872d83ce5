"""The FER2013 conventions every other module relies on."""

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
USAGES = ("Training", "PublicTest", "PrivateTest")
SPLITS = ("train", "val", "test")
SPLIT_OF_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}

IMAGE_SIDE = 48
PIXELS_PER_IMAGE = IMAGE_SIDE * IMAGE_SIDE

# Published FER2013 Training class counts, in EMOTIONS order: the synthetic data mimics this imbalance.
FER2013_TRAINING_CLASS_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)
