"""Build hook: the solver's hot modules compiled to C with mypyc, for regular installs only.

A wheel (``pip install .``, or from an index) gets the modules listed under
``[tool.hatch.build.targets.wheel.hooks.custom]`` in ``pyproject.toml`` compiled by
`hatch-mypyc <https://github.com/ofek/hatch-mypyc>`_ from the same annotated sources, which
stay the reference and run as they are in an editable install (``pip install -e .``): there,
nothing is compiled, so an edited source can never be shadowed by an older compiled copy.
``HATCH_BUILD_NO_HOOKS=true`` skips the compilation for a regular install too.
"""

from __future__ import annotations

from typing import Any

from hatch_mypyc import plugin


class CompiledSolverHook(plugin.MypycBuildHook):
    """:class:`hatch_mypyc.plugin.MypycBuildHook`, skipped for editable installs; the compiled
    files it writes next to the sources are removed once the wheel holds them."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if version == "editable":
            self.clean([version])  # left by an earlier regular build: never import them
            return
        super().initialize(version, build_data)

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self.target_name == "wheel" and version != "editable":
            self.clean([version])
