"""The few fields of an ONNX model that loading one edits, read and written with protobuf alone.

An ONNX file is one protobuf message (`ModelProto`). The `onnx` package reads it too, but importing that costs
0.75 s of CPU (ml_dtypes registering its numpy types), paid by every process that looks for a face: a worker, each
`smartedit process`, each service the suite starts. This schema names only the fields edited here, with their
numbers from onnx.proto; protobuf keeps every field it does not know (weights, attributes, opsets) as it read it,
so the model written back is the same but for the edits (tests/unit/analysis/test_onnx_graph.py checks it with
`onnx`'s own reader).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

_PACKAGE = "smartedit.onnx_subset"  # not onnx's own: a process that also imports `onnx` keeps both apart

# message: [(field, number, type)]; a type ending in * is repeated, a capitalised one is a message of this schema.
_SCHEMA: dict[str, list[tuple[str, int, str]]] = {
    "ModelProto": [("graph", 7, "GraphProto")],
    "GraphProto": [
        ("node", 1, "NodeProto*"),
        ("initializer", 5, "TensorProto*"),
        ("input", 11, "ValueInfoProto*"),
        ("output", 12, "ValueInfoProto*"),
    ],
    "NodeProto": [("input", 1, "string*")],
    "TensorProto": [("name", 8, "string")],
    "ValueInfoProto": [("name", 1, "string"), ("type", 2, "TypeProto")],
    "TypeProto": [("tensor_type", 1, "TensorType")],
    "TensorType": [("shape", 2, "TensorShapeProto")],
    "TensorShapeProto": [("dim", 1, "Dimension*")],
    "Dimension": [("dim_value", 1, "int64"), ("dim_param", 2, "string")],  # one of the two: onnx's oneof `value`
}


@cache
def _model_class() -> Any:
    """The generated message class of `ModelProto` in this subset (built once per process, in a pool of its own)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # 60 ms: only where a model loads

    Field = descriptor_pb2.FieldDescriptorProto
    scalars = {"string": Field.TYPE_STRING, "int64": Field.TYPE_INT64}
    file = descriptor_pb2.FileDescriptorProto(name="smartedit_onnx_subset.proto", package=_PACKAGE, syntax="proto2")
    for message, fields in _SCHEMA.items():
        proto = file.message_type.add(name=message)
        if message == "Dimension":
            proto.oneof_decl.add(name="value")
        for name, number, kind in fields:
            base = kind.rstrip("*")
            label = Field.LABEL_REPEATED if kind.endswith("*") else Field.LABEL_OPTIONAL
            field = proto.field.add(name=name, number=number, label=label)
            if base in scalars:
                field.type = scalars[base]
            else:
                field.type, field.type_name = Field.TYPE_MESSAGE, f".{_PACKAGE}.{base}"
            if message == "Dimension":
                field.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.ModelProto"))


def with_free_dimensions(model: bytes, input_axes: Mapping[int, str]) -> bytes:
    """`model` with its first input's `input_axes` (index: name) and every output dimension made free, and only
    the initializers a node reads, none of them listed among the graph's inputs.

    A network exported with a fixed input size (CenterFace's 10x3x32x32) then runs on pictures of any size. Listed
    as inputs, initializers could be fed in place of the weights, which keeps onnxruntime from folding them as
    constants (and it warns once per tensor); unread ones (batch-norm counters) it would warn of too.
    """
    proto = _model_class().FromString(model)
    graph = proto.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    for index, name in input_axes.items():
        dims[index].dim_param = name
    for output in graph.output:
        for dim in output.type.tensor_type.shape.dim:
            dim.dim_param = "free"
    read = {name for node in graph.node for name in node.input}
    initializers = {tensor.name for tensor in graph.initializer}
    constants = [tensor for tensor in graph.initializer if tensor.name in read]
    inputs = [i for i in graph.input if i.name not in initializers]
    del graph.initializer[:], graph.input[:]
    graph.initializer.extend(constants)
    graph.input.extend(inputs)
    return bytes(proto.SerializeToString())
