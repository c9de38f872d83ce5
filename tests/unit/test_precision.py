"""`train.precision`: bfloat16 only where the CPU computes it natively, and the record says what trained."""

from ferpipe.train.recipe import usable_precision

NO_BF16 = {"fma", "avx", "avx2", "avx512f"}


def test_float32_is_float32_everywhere():
    assert usable_precision("float32", NO_BF16) == ("float32", None)


def test_mixed_bfloat16_trains_in_bfloat16_on_a_cpu_with_native_support():
    assert usable_precision("mixed_bfloat16", NO_BF16 | {"avx512_bf16"}) == ("mixed_bfloat16", None)
    assert usable_precision("mixed_bfloat16", NO_BF16 | {"amx_bf16"}) == ("mixed_bfloat16", None)


def test_mixed_bfloat16_falls_back_to_float32_and_says_why_on_a_cpu_without():
    used, why = usable_precision("mixed_bfloat16", NO_BF16)
    assert used == "float32" and "avx512_bf16 or amx_bf16" in why and "training in float32" in why
