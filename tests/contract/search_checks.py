"""Metadata store checks of ``search_runs``: filters, ordering, paging and the limits."""

from __future__ import annotations

import math

import pytest

from loopml.core.entities import Metric, Param, RunStatus, Tag
from loopml.core.errors import (
    FilterSyntaxError,
    InvalidInputError,
)
from loopml.core.query_limits import MAX_FILTER_CLAUSES, MAX_ORDER_BY_KEYS
from loopml.stores.metadata.base import MAX_RESULTS_LIMIT, MetadataStore, RunQuery
from tests.contract.metadata_check_data import (
    names,
    new_experiment,
    new_run,
    search,
)

# search


def _search_fixture(store: MetadataStore) -> str:
    """Four runs: a (auc .9, lr .1, FINISHED), b (auc .7), c (auc NaN), d (no auc)."""
    experiment_id = new_experiment(store)
    specs = [
        ("a", 0.9, "0.1", "prod", RunStatus.FINISHED),
        ("b", 0.7, "0.01", "dev", RunStatus.RUNNING),
        ("c", math.nan, "0.1", "Prod", RunStatus.FAILED),
        ("d", None, None, None, RunStatus.RUNNING),
    ]
    for i, (name, auc, lr, stage, status) in enumerate(specs):
        run = new_run(store, experiment_id, f"model-{name}", start_time=1_700_000_000_000 + i)
        store.log_batch(
            run.id,
            metrics=[] if auc is None else [Metric("auc", auc, 0, 0)],
            params=[] if lr is None else [Param("lr", lr)],
            tags=[] if stage is None else [Tag("stage", stage)],
        )
        if status is not RunStatus.RUNNING:
            store.set_run_status(run.id, status, None)
    return experiment_id


def check_search_default_order_is_newest_start_time_first(store: MetadataStore) -> None:
    experiment_id = _search_fixture(store)
    assert names(search(store, experiment_id)) == ["model-d", "model-c", "model-b", "model-a"]


def check_search_filters_by_metric_param_tag_and_attribute(store: MetadataStore) -> None:
    experiment_id = _search_fixture(store)

    def names(text: str) -> set[str]:
        return {run.name[-1] for run in search(store, experiment_id, filter=text)}

    assert names("metrics.auc > 0.8") == {"a"}
    assert names("metrics.auc >= 0.7") == {"a", "b"}
    assert names("metrics.auc < 1 and params.lr = '0.1'") == {"a"}
    assert names("params.lr = '0.1'") == {"a", "c"}
    assert names("params.lr != '0.1'") == {"b"}
    assert names("tags.stage = 'prod'") == {"a"}
    assert names("status = 'FINISHED'") == {"a"}
    assert names("attributes.status != 'RUNNING'") == {"a", "c"}
    assert names("name = 'model-b'") == {"b"}
    assert names("start_time >= 1700000000002") == {"c", "d"}
    assert names("metrics.missing > 0") == set()


def check_search_like_is_case_sensitive_and_ilike_is_not(store: MetadataStore) -> None:
    experiment_id = _search_fixture(store)

    def names(text: str) -> set[str]:
        return {run.name[-1] for run in search(store, experiment_id, filter=text)}

    assert names("tags.stage like 'pro%'") == {"a"}
    assert names("tags.stage ilike 'pro%'") == {"a", "c"}
    assert names("tags.stage like 'P_od'") == {"c"}
    assert names("name like 'model-%'") == {"a", "b", "c", "d"}
    assert names("name like 'model\\\\_%'") == set()  # escaped underscore is literal

    # characters special to other pattern languages (GLOB, regex) are plain characters
    other = new_experiment(store)
    run = new_run(store, other, "special")
    store.log_batch(run.id, tags=[Tag("pattern", "a*b[1]?.c"), Tag("under", "x_y%z")])
    for text, found in [
        ("tags.pattern like 'a*b[1]?.c'", True),
        ("tags.pattern like 'a*b%'", True),
        ("tags.pattern like 'a__b%'", False),
        ("tags.pattern like 'aXb%'", False),
        ("tags.pattern ilike 'A*B[1]_._'", True),
        ("tags.under like 'x\\\\_y\\\\%z'", True),
        ("tags.under like 'x\\\\_y\\\\%Z'", False),
    ]:
        assert bool(search(store, other, filter=text)) is found, text


def check_search_orders_by_metric_with_missing_values_last(store: MetadataStore) -> None:
    experiment_id = _search_fixture(store)
    ascending = names(search(store, experiment_id, order_by=["metrics.auc ASC"]))
    descending = names(search(store, experiment_id, order_by=["metrics.auc DESC"]))
    assert ascending[:2] == ["model-b", "model-a"]
    assert descending[:2] == ["model-a", "model-b"]
    assert set(ascending[2:]) == set(descending[2:]) == {"model-c", "model-d"}
    by_param = names(search(store, experiment_id, order_by=["params.lr"]))
    assert by_param[0] == "model-b" and by_param[-1] == "model-d"
    assert names(search(store, experiment_id, order_by=["name DESC"]))[0] == "model-d"


def check_search_orders_and_filters_by_duration_with_running_runs_last(
    store: MetadataStore,
) -> None:
    experiment_id = new_experiment(store)
    for name, took in [("quick", 1_000), ("slow", 9_000), ("running", None), ("mid", 5_000)]:
        run = new_run(store, experiment_id, name, start_time=1_700_000_000_000)
        if took is not None:
            store.set_run_status(run.id, RunStatus.FINISHED, 1_700_000_000_000 + took)
    assert names(search(store, experiment_id, order_by=["duration"])) == [
        *("quick", "mid", "slow", "running")
    ]
    assert names(search(store, experiment_id, order_by=["duration DESC"])) == [
        *("slow", "mid", "quick", "running")
    ]
    longer = search(store, experiment_id, filter="duration > 2000", order_by=["duration"])
    assert names(longer) == ["mid", "slow"]


def check_search_pages_cover_every_run_exactly_once(store: MetadataStore) -> None:
    experiment_id = new_experiment(store)
    created = {
        new_run(store, experiment_id, f"r{i}", start_time=1_000 + i % 3).id for i in range(11)
    }
    for order_by in ([], ["metrics.none DESC"], ["start_time"]):
        seen: list[str] = []
        token = None
        while True:
            query = RunQuery(
                experiment_ids=[experiment_id], max_results=3, page_token=token, order_by=order_by
            )
            page = store.search_runs(query)
            seen += [run.id for run in page.items]
            token = page.next_page_token
            if token is None:
                break
        assert sorted(seen) == sorted(created), order_by


def check_search_over_several_experiments_pages_through_them_in_one_order(
    store: MetadataStore,
) -> None:
    """Runs of three experiments (one empty), start times interleaved and tied, some without
    the metric: every order, page by page, is the order of all of them together."""
    experiments = [new_experiment(store) for _ in range(3)]
    expected = []  # (name, start_time, auc or None)
    for i in range(13):
        name, start, auc = f"r{i:02d}", 1_000 + i // 2, None if i % 4 == 0 else (i * 7) % 5
        run = new_run(store, experiments[i % 2], name, start_time=start)
        if auc is not None:
            store.log_batch(run.id, metrics=[Metric("auc", float(auc), 0, 0)])
        expected.append((name, start, auc))
    by_id = {run.name: run.id for e in experiments for run in search(store, e)}

    def newest(row: tuple[str, int, int | None]) -> tuple[int, str]:
        return (-row[1], by_id[row[0]])  # then by run id, as the store breaks ties

    def best_auc(row: tuple[str, int, int | None]) -> tuple[int, float, int, str]:
        return (row[2] is None, -(row[2] or 0), *newest(row))

    cases: list[tuple[list[str], str | None, list[str]]] = [
        ([], None, [row[0] for row in sorted(expected, key=newest)]),
        (["metrics.auc DESC"], None, [row[0] for row in sorted(expected, key=best_auc)]),
        (["name ASC"], "metrics.auc >= 2", sorted(r[0] for r in expected if (r[2] or 0) >= 2)),
    ]
    for order_by, text, want in cases:
        seen: list[str] = []
        token = None
        while True:
            query = RunQuery(
                experiment_ids=experiments,
                filter=text,
                order_by=order_by,
                max_results=4,
                page_token=token,
            )
            page = store.search_runs(query)
            seen += names(page.items)
            token = page.next_page_token
            if token is None:
                break
        assert seen == want, (order_by, text)


def check_search_rejects_a_bad_filter_with_its_position(store: MetadataStore) -> None:
    experiment_id = new_experiment(store)
    with pytest.raises(FilterSyntaxError) as caught:
        search(store, experiment_id, filter="metrics.auc > 0.5 or params.x = '1'")
    assert caught.value.position == 18
    with pytest.raises(FilterSyntaxError):
        search(store, experiment_id, filter="metrics.auc > 'high'")
    with pytest.raises(FilterSyntaxError):
        search(store, experiment_id, order_by=["metrics.auc sideways"])


def check_search_max_results_and_page_token_are_checked(store: MetadataStore) -> None:
    experiment_id = new_experiment(store)
    new_run(store, experiment_id)
    for bad in (0, -1, MAX_RESULTS_LIMIT + 1):
        with pytest.raises(InvalidInputError):
            search(store, experiment_id, max_results=bad)
    assert len(search(store, experiment_id, max_results=MAX_RESULTS_LIMIT)) == 1
    for token in ("garbage!", "eyJrIjoicnVucyJ9"):
        with pytest.raises(InvalidInputError):
            search(store, experiment_id, page_token=token)


def check_search_refuses_more_order_keys_or_clauses_than_the_limits(store: MetadataStore) -> None:
    # SQLite crashed the process on 31 order keys and refused 5,000 clauses as a backend error
    experiment_id = new_experiment(store)
    for i in range(2):
        run = new_run(store, experiment_id, f"r{i}", start_time=1_000 + i)
        metrics = [Metric(f"m{k}", float(i), 0, 0) for k in range(MAX_ORDER_BY_KEYS)]
        store.log_batch(run.id, metrics=metrics, tags=[Tag("t", "x")])
    orders = [f"metrics.m{k} DESC" for k in range(MAX_ORDER_BY_KEYS)]
    clauses = " and ".join(["metrics.m0 >= 0", "tags.t = 'x'"] * (MAX_FILTER_CLAUSES // 2))
    at_limits = search(store, experiment_id, filter=clauses, order_by=orders)
    assert names(at_limits) == ["r1", "r0"]
    for count in (MAX_ORDER_BY_KEYS + 1, 31, 500):
        order_by = [f"metrics.m{k % MAX_ORDER_BY_KEYS}" for k in range(count)]
        with pytest.raises(InvalidInputError, match=f"order_by has {count} keys; at most 10"):
            search(store, experiment_id, order_by=order_by)
    for count in (MAX_FILTER_CLAUSES + 1, 5_000):
        text = " and ".join(["metrics.m0 >= 0"] * count)
        with pytest.raises(InvalidInputError, match="at most 100 are allowed"):
            search(store, experiment_id, filter=text)
