"""The console's arithmetic, without Textual or a server."""

from motcua.counter.model import OfficerTally, big_text, clock_text, queue_lines


def test_big_text_draws_every_ticket_letter_and_digit():
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
        rows = big_text(ch).split("\n")
        assert len(rows) == 3 and {len(r) for r in rows} == {3}, ch
        assert rows != ["   "] * 3, ch
    assert big_text("A023").split("\n")[0] == "┏━┓ ┏━┓ ╺━┓ ╺━┓"


def test_clock_text():
    assert clock_text(None) == "—"
    assert clock_text(-5) == "0:00"
    assert clock_text(75.9) == "1:15"
    assert clock_text(3 * 3600 + 62) == "3:01:02"


def test_queue_lines_flag_a_wait_over_target():
    center = {"departments": [{"code": "TP", "vi": "Sở Tư pháp", "en": "Justice",
                               "target_wait": 20}]}
    depts = {"TP": {"code": "TP", "waiting": 3, "priority_waiting": 1, "oldest_since": 1000.0}}
    [line] = queue_lines(center, depts, ["TP"], now=1000.0 + 20 * 60, language="en")
    assert (line.name, line.waiting, line.priority, line.over_target) == ("Justice", 3, 1, False)
    [line] = queue_lines(center, depts, ["TP"], now=1000.0 + 20 * 60 + 1)
    assert line.over_target and line.name == "Sở Tư pháp"
    [empty] = queue_lines(center, {}, ["TP"], now=0)
    assert (empty.waiting, empty.longest, empty.over_target) == (0, None, False)


def test_tally_counts_only_this_officer_once():
    tally = OfficerTally(satisfied_values=frozenset({3, 4}))
    tally.reset("cb01")
    finished = {"officer": "cb01", "ticket": {"id": 7}, "service": 300.0, "at": 1.0}
    assert tally.add("ticket_finished", finished)
    assert not tally.add("ticket_finished", finished)           # the same event again
    assert not tally.add("ticket_finished", {**finished, "officer": "cb02"})
    tally.add("ticket_finished", {**finished, "ticket": {"id": 8}, "service": 100.0, "at": 2.0})
    tally.add("visit_rated", {"officer": "cb01", "visit": 1, "value": 4, "at": 3.0})
    tally.add("visit_rated", {"officer": "cb01", "visit": 2, "value": 1, "at": 4.0})
    tally.add("ticket_no_show", {"officer": "cb01", "ticket": {"id": 9}, "at": 5.0})
    assert (tally.served, tally.average_service, tally.rated, tally.satisfaction,
            tally.no_shows) == (2, 200.0, 2, 50, 1)


def test_tally_loads_the_servers_figures_for_its_officer_only():
    tally = OfficerTally(satisfied_values=frozenset({3, 4}))
    tally.reset("cb01")
    stats = {"officer": "cb01", "served": 3, "transferred": 1, "no_show": 2,
             "service_seconds": 900.0, "mean_service_seconds": 300.0,
             "ratings": {"4": 2, "1": 1}}
    assert not tally.load({**stats, "officer": "cb02"})       # another officer's
    assert not tally.load(None)
    assert tally.served == 0
    assert tally.load(stats)
    assert (tally.served, tally.transferred, tally.no_shows, tally.average_service,
            tally.ratings, tally.satisfaction) == (3, 1, 2, 300.0, {4: 2, 1: 1}, 67)
    # An event seen afterwards is added on top until the next load.
    tally.add("ticket_finished", {"officer": "cb01", "ticket": {"id": 9}, "service": 100.0,
                                  "at": 1.0})
    assert (tally.served, tally.average_service) == (4, 250.0)
