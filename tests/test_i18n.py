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


def test_one_number_format_vietnamese_first():
    """Found: the monitor wrote "0.4" and "100.0%", the report "0,4" and "100,0%"."""
    from motcua.i18n import format_number, format_percent

    assert format_number(0.4, 1) == "0,4" and format_number(0.4, 1, "en") == "0.4"
    assert format_number(1234.5, 1) == "1.234,5" and format_number(1234.5, 1, "en") == "1,234.5"
    assert format_number(1234567) == "1.234.567" and format_number(1234567, 0, "en") == "1,234,567"
    assert format_percent(1.0) == "100,0%" and format_percent(0.937, 1, "en") == "93.7%"
    assert format_percent(2 / 3, 0) == "67%"


def test_search_fold_reads_ky_and_ki_alike():
    """Both spellings are in use (ký/kí, lý/lí, quy/qui, mỹ/mĩ)."""
    from motcua.i18n import search_fold

    assert search_fold("Đăng ký thường trú") == search_fold("đăng kí thường trú") == \
        "dang ki thuong tru"
    assert search_fold("Lý lịch") == search_fold("lí lịch")
    assert search_fold("quy hoạch") == search_fold("qui hoạch")
    assert search_fold("mỹ thuật") == search_fold("mĩ thuật")
    # A "y" after a vowel is part of the vowel, not the spelling choice.
    assert search_fold("giấy tay huy") == "giay tay huy"
    assert search_fold("y tế") == "y te"
