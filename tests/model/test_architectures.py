import numpy as np
import pytest

from ferpipe.core.config import Config, build
from ferpipe.models import ARCHITECTURES, build_model
from ferpipe.train.recipe import compile_model, make_optimizer
from tests.conftest import REPO_ROOT, composed, config_of

pytestmark = pytest.mark.slow  # TensorFlow models, trained or served


def test_alexnet_seed_matches_the_seed_layer_for_layer():
    model = build_model("alexnet_seed")
    assert model.count_params() == 41_462_727
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds == [
        "Rescaling",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "Conv2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "ReLU",
        "Dense",
        "Dropout",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert [layer.filters for layer in model.layers if hasattr(layer, "filters")] == [96, 256, 384, 384]
    assert model.output_shape == (None, 7)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_maps_raw_pixels_to_class_probabilities(arch):
    model = build_model(arch)
    images = np.random.default_rng(0).integers(0, 256, (2, 48, 48, 1)).astype("float32")
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (2, 7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_exports_for_litert_with_the_same_probabilities(arch, tmp_path):
    from ferpipe.core.lite import LiteModel

    model = build_model(arch)
    rng = np.random.default_rng(4)
    for layer in model.layers:  # batch-norm statistics as after training, not the identity they start as
        if hasattr(layer, "moving_variance"):
            layer.moving_mean.assign(rng.normal(0, 0.2, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.moving_variance.shape))
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape))
    model.export(str(tmp_path / "model.tflite"), format="litert", verbose=False)
    lite = LiteModel(tmp_path / "model.tflite")
    assert lite.output_shape == model.output_shape
    images = rng.integers(0, 256, (5, 48, 48, 1)).astype("uint8")
    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(lite.predict_on_batch(images), expected, atol=1e-5)
    np.testing.assert_allclose(lite.predict(images, batch_size=2), expected, atol=1e-5)  # as Keras': a short last batch
    assert lite.predict(images[:0], batch_size=2).shape == (0, 7)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_takes_whole_faces_when_cropped_and_can_be_explained_once_saved(arch, tmp_path):
    import keras

    from ferpipe.core.gradcam import heatmaps

    build_model(arch, crop=40).save(tmp_path / "model.keras")
    model = keras.models.load_model(tmp_path / "model.keras")  # as evaluate and `ferpipe explain` see it
    assert [type(layer).__name__ for layer in model.layers if type(layer).__name__ != "InputLayer"][0] == "CenterCrop"
    images = np.random.default_rng(5).integers(0, 256, (3, 48, 48, 1)).astype("float32")
    assert model.predict(images, verbose=0).shape == (3, 7)
    maps, _ = heatmaps(model, images)
    assert maps.shape == (3, 48, 48) and maps.min() >= 0 and maps.max() <= 1
    border = np.ones((48, 48), bool)
    border[4:44, 4:44] = False
    assert maps[:, border].max() == 0  # the network never saw the 4 pixels around its centre crop


def test_unknown_architecture_is_named():
    with pytest.raises(ValueError, match="unknown architecture 'vgg99'.*alexnet_seed"):
        build_model("vgg99")


def test_accuracy_is_true_accuracy_not_keras_binary_accuracy():
    # The seed's "88.6%" was binary accuracy over 7 one-hot outputs. Our "accuracy" must be the
    # share of images whose top class is right.
    model = compile_model(config_of("train", arch="tiny_cnn"), 7, (48, 48, 1))
    images = np.random.default_rng(1).integers(0, 256, (64, 48, 48, 1)).astype("float32")
    labels = np.random.default_rng(2).integers(0, 7, 64)
    scores = model.evaluate(images, np.eye(7)[labels], return_dict=True, verbose=0)
    expected = np.mean(model.predict(images, verbose=0).argmax(axis=1) == labels)
    assert scores["accuracy"] == pytest.approx(expected)
    assert scores["binary_accuracy"] > 0.8  # an untrained model already "scores" this on the seed's metric
    assert model.loss.__class__.__name__ == "CategoricalCrossentropy"


def test_seed_recipe_reproduces_the_seed_training():
    config = build(Config, composed("train=seed_recipe"), "conf").train
    assert (config.arch, config.loss, config.optimizer, config.lr, config.batch_size, config.epochs) == (
        "alexnet_seed",
        "binary_crossentropy",
        "adam",
        1e-3,
        128,
        9,
    )
    assert not config.augment.flip and config.augment.shift == 0
    assert compile_model(config, 7, (48, 48, 1)).loss.__class__.__name__ == "BinaryCrossentropy"


def test_dvc_set_param_lr_1e_4_reaches_the_optimizer_as_a_float(tmp_path):
    import re

    from ferpipe.core.config import load_config

    params = tmp_path / "params.yaml"  # what `dvc exp run -S train.lr=1e-4` writes: an unquoted 1e-4
    params.write_text(re.sub(r"^  lr: .*$", "  lr: 1e-4", (REPO_ROOT / "params.yaml").read_text(), flags=re.M))
    config = load_config(params).train
    assert isinstance(config.lr, float) and config.lr == 0.0001
    assert float(make_optimizer(config).learning_rate) == pytest.approx(1e-4)


def test_cpu_session_recipe_trains_the_compact_vgg_with_a_cosine_schedule():
    config = build(Config, composed("train=cpu_session"), "conf").train
    assert (config.arch, config.optimizer, config.lr, config.batch_size, config.epochs) == (
        "vgg_small",
        "adam",
        1e-3,
        64,
        16,
    )
    assert config.schedule.kind == "cosine" and config.augment.flip
    # Under a fifth of vgg_bn's parameters (and a quarter of its multiply-adds): what makes it fit a CPU session.
    assert build_model("vgg_small").count_params() < build_model("vgg_bn").count_params() / 5


def test_the_config_knows_every_architecture_and_only_those():
    # params are checked before TensorFlow starts, so the config lists the names itself.
    import typing

    from ferpipe.core.config import TrainConfig

    assert set(typing.get_args(typing.get_type_hints(TrainConfig)["arch"])) == set(ARCHITECTURES)


def test_a_cropped_network_takes_whole_faces_and_sees_only_their_centre(tmp_path):
    import keras

    from ferpipe.core.lite import LiteModel

    model = build_model("vgg_small", crop=40)
    assert model.input_shape == (None, 48, 48, 1) and type(model.layers[0]).__name__ == "CenterCrop"
    assert model.count_params() == build_model("vgg_small").count_params()  # the same network, on 40x40
    images = np.random.default_rng(5).integers(0, 256, (3, 48, 48, 1)).astype("float32")
    network = keras.Sequential([keras.Input((40, 40, 1)), *model.layers[1:]])
    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(network.predict(images[:, 4:44, 4:44], verbose=0), expected, atol=1e-6)
    border = images.copy()
    border[:, :4], border[:, -4:], border[:, :, :4], border[:, :, -4:] = 0, 255, 0, 255
    np.testing.assert_allclose(model.predict(border, verbose=0), expected, atol=1e-6)
    model.export(str(tmp_path / "model.tflite"), format="litert", verbose=False)  # served as any other network
    np.testing.assert_allclose(
        LiteModel(tmp_path / "model.tflite").predict_on_batch(images.astype("uint8")), expected, atol=1e-5
    )
