import pytest

from motcua.i18n import Catalogue, fold


def test_fold_ignores_diacritics_and_case():
    assert fold("Đăng ký kết hôn") == fold("dang ky KET HON") == "dang ky ket hon"
    assert fold("Cấp đổi thẻ Căn cước") == "cap doi the can cuoc"
    assert fold("Nguyễn") != fold("Nguyen Van")


def test_catalogue_switches_language_and_rejects_gaps():
    cat = Catalogue({"hi": "Xin chào {name}"}, {"hi": "Hello {name}"})
    assert cat("hi", name="An") == "Xin chào An"
    assert cat.toggle() == "en"
    assert cat("hi", name="An") == "Hello An"
    assert cat.pick({"vi": "Sở Tư pháp", "en": "Justice"}) == "Justice"
    with pytest.raises(ValueError):
        Catalogue({"a": "x"}, {"b": "y"})
