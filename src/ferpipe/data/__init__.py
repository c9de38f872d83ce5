"""Reading, validating, describing and converting FER2013 in every form people have it."""
