"""Declare a node's ROS parameters from a core config dataclass and read them back validated.

Descriptors carry the field's description, type, range and read-only flag, so ``ros2 param
describe`` shows the same constraints that ``physworld.config.from_dict`` enforces.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import TypeVar

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from ..config import from_dict

T = TypeVar("T")

_TYPES = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
    list[float]: ParameterType.PARAMETER_DOUBLE_ARRAY,
    list[int]: ParameterType.PARAMETER_INTEGER_ARRAY,
    list[str]: ParameterType.PARAMETER_STRING_ARRAY,
}


def declare_config(node: Node, cls: type[T]) -> T:
    """Declare every field of ``cls`` as a parameter of ``node``; return the validated config."""
    hints = typing.get_type_hints(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        meta = f.metadata
        desc = ParameterDescriptor(
            name=f.name,
            type=_TYPES.get(tp, ParameterType.PARAMETER_NOT_SET),
            description=meta.get("description", ""),
            read_only=bool(meta.get("read_only", False)),
        )
        if meta.get("choices"):
            desc.additional_constraints = "one of: " + ", ".join(map(str, meta["choices"]))
        lo_hi = meta.get("range")
        if lo_hi is not None and tp is float:
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo_hi[0]), to_value=float(lo_hi[1]))]
        elif lo_hi is not None and tp is int:
            desc.integer_range = [IntegerRange(from_value=int(lo_hi[0]), to_value=int(lo_hi[1]), step=0)]
        default = getattr(defaults, f.name)
        if isinstance(default, list) and not default and tp in _TYPES:
            # rclpy infers BYTE_ARRAY from [], which then refuses string/number lists from a params
            # file: declare the type explicitly and set the empty default only if nothing overrode it
            ptype = Parameter.Type(_TYPES[tp])
            node.declare_parameter(f.name, ptype, desc)
            try:
                node.get_parameter(f.name)
            except ParameterUninitializedException:
                node.set_parameters([Parameter(f.name, ptype, [])])
        else:
            node.declare_parameter(f.name, default, desc)
    values = {f.name: node.get_parameter(f.name).value for f in dataclasses.fields(cls)}
    return from_dict(cls, values, source=node.get_fully_qualified_name())
