"""Qt-free contracts shared by every part of xaidesk."""

from .cancel import (
    CancelToken, Cancelled, ProgressCallback, Step, ThrottledProgress, no_progress, step_of, sub_progress,
)
from .errors import InputError, MethodError, ModelError, XaideskError
from .explanation import Explanation, Target
from .registry import (
    FamilyInfo, MethodInfo, Param, default_method, get_family, get_method, list_families, list_methods,
    parse_param_values, register_family, register_method,
)

__all__ = [
    "CancelToken", "Cancelled", "ProgressCallback", "Step", "ThrottledProgress", "no_progress", "step_of",
    "sub_progress",
    "InputError", "MethodError", "ModelError", "XaideskError",
    "Explanation", "Target",
    "FamilyInfo", "MethodInfo", "Param", "default_method", "get_family", "get_method", "list_families",
    "list_methods", "parse_param_values", "register_family", "register_method",
]
