from learnloop.domain.keys import fit


def test_a_long_key_fits_a_short_column_and_stays_apart_from_one_sharing_its_start() -> None:
    first, second = fit("learning-log:docs:" + "x" * 100 + "1", 60), fit("learning-log:docs:" + "x" * 100 + "2", 60)
    assert len(first) == len(second) == 60 and first != second and first.startswith("learning-log:docs:")


def test_a_key_that_fits_is_itself_and_a_long_one_keeps_the_whole_hash_in_200() -> None:
    assert fit("share:abc") == "share:abc"
    assert len(fit("x" * 500)) == 200 and len(fit("x" * 500).split("#")[1]) == 64
