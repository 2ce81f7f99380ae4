"""``xaidesk convert-vggish SRC DST``: published VGGish weights in xaidesk's mel x time layout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "convert VGGish weights (torchvggish or TensorFlow names) to xaidesk's mel x time layout"
SOURCE_LAYOUTS = ("torchvggish", "tensorflow")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", type=Path, help="torchvggish .pth, or TensorFlow's arrays as .npz/.safetensors")
    parser.add_argument("dst", type=Path, help="the converted file (.safetensors or .pt); open it as vggish:DST")
    parser.add_argument("--layout", choices=("auto",) + SOURCE_LAYOUTS, default="auto",
                        help="the layout of SRC (default: from its names)")


def run(args: argparse.Namespace) -> int:
    from ..models.vggish_convert import convert_vggish_reporting_layout

    written, found = convert_vggish_reporting_layout(args.src, args.dst, None if args.layout == "auto" else args.layout)
    print(f"Converted {args.src.name} ({found} layout) to {written}; open it as vggish:{written}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from ..core import XaideskError

    parser = argparse.ArgumentParser(prog="xaidesk convert-vggish", description=HELP)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except XaideskError as error:
        print(f"xaidesk: {error.message}", file=sys.stderr)
        return 1
