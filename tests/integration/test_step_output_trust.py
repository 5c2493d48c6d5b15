"""Step outputs read through skops load only what the file names and loopml's allowlist holds
(never a list stored beside the file); anything else needs trust_code, which reaches worker
processes and the tuner. Steps live at module level so that worker processes import them."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loopml
from loopml.core.errors import UntrustedCodeError
from loopml.pipelines import run, step_output, tune, uniform
from loopml.pipelines.materializers import Materializers, SklearnMaterializer
from loopml.tracking.client import Client


@loopml.step
def make_transformer() -> Any:
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(func=math.sqrt)  # skops reads "math.sqrt": outside the allowlist


@loopml.step(retries=2)
def apply_transformer(transformer: Any, *, scale: float = 1.0) -> float:
    return float(transformer.func(16.0)) * scale


@loopml.pipeline
def sqrt_of_sixteen(scale: float = 1.0) -> float:
    return apply_transformer(make_transformer(), scale=scale)


@loopml.pipeline
def transformer_only() -> Any:
    return make_transformer()


def _forged_folder(tmp_path: Path) -> Path:
    """A stored sklearn output whose trusted.json lists the code its file names."""
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    folder = tmp_path / "output"
    folder.mkdir()
    sio.dump(FunctionTransformer(func=math.sqrt), folder / "model.skops")
    (folder / "trusted.json").write_text(json.dumps(["math.sqrt"]), encoding="utf-8")
    return folder


def test_a_trusted_list_beside_the_file_does_not_widen_what_loads(tmp_path: Path) -> None:
    folder = _forged_folder(tmp_path)
    with pytest.raises(UntrustedCodeError, match=r"math\.sqrt.*--trust-code"):
        Materializers.default().by_name("sklearn").read(folder)
    with pytest.warns(UserWarning, match=r"math\.sqrt"):
        loaded = Materializers.default(trust_code=True).by_name("sklearn").read(folder)
    assert loaded.func(9.0) == 3.0


def test_outputs_stored_with_a_trusted_list_still_load_when_their_types_are_allowed(
    tmp_path: Path,
) -> None:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    features = np.arange(40, dtype=float).reshape(20, 2)
    model = RandomForestClassifier(n_estimators=2, random_state=0).fit(features, np.arange(20) % 2)
    folder = tmp_path / "old"
    folder.mkdir()
    sio.dump(model, folder / "model.skops")
    (folder / "trusted.json").write_text('["sklearn.tree._tree.Tree"]', encoding="utf-8")
    back = SklearnMaterializer().read(folder)
    assert np.array_equal(back.predict(features), model.predict(features))


def test_a_pipeline_output_outside_the_allowlist_needs_trust_code_to_be_read(
    client: Client,
) -> None:
    result = run(transformer_only, client=client)
    with pytest.raises(UntrustedCodeError, match=r"math\.sqrt"):
        result.value()
    with pytest.raises(UntrustedCodeError, match=r"math\.sqrt"):
        step_output(result.run_id, "make_transformer", client=client)
    with pytest.warns(UserWarning, match=r"math\.sqrt"):
        loaded = step_output(result.run_id, "make_transformer", client=client, trust_code=True)
    assert loaded.func(4.0) == 2.0


def test_worker_processes_refuse_an_untrusted_input_once_and_load_it_with_trust_code(
    client: Client,
) -> None:
    with pytest.raises(UntrustedCodeError, match=r"'apply_transformer'.*math\.sqrt"):
        run(sqrt_of_sixteen, client=client, executor="process", workers=1)
    (refused,) = client.search_runs(filter="attributes.name = 'apply_transformer'")
    assert refused.metrics["attempts"] == 1  # no retry: it would be refused again
    result = run(sqrt_of_sixteen, client=client, executor="process", workers=1, trust_code=True)
    assert result.steps["make_transformer"].cached
    assert result.value() == 4.0


def test_tuning_trials_in_worker_processes_get_trust_code(client: Client) -> None:
    result = tune(
        sqrt_of_sixteen,
        {"scale": uniform(1.0, 2.0)},
        n_trials=2,
        seed=0,
        client=client,
        executor="process",
        workers=1,
        trust_code=True,
    )
    assert all(trial.state == "complete" for trial in result.trials)
    assert result.best.value is not None and result.best.value >= 4.0
