"""Qt-free contracts shared by every part of xaidesk."""

from .cancel import CancelToken, Cancelled, ProgressCallback, ThrottledProgress, no_progress
from .errors import InputError, MethodError, ModelError, XaideskError
from .explanation import Explanation, Target
from .registry import MethodInfo, Param, get_method, list_methods, parse_param_values, register_method

__all__ = [
    "CancelToken", "Cancelled", "ProgressCallback", "ThrottledProgress", "no_progress",
    "InputError", "MethodError", "ModelError", "XaideskError",
    "Explanation", "Target",
    "MethodInfo", "Param", "get_method", "list_methods", "parse_param_values", "register_method",
]
