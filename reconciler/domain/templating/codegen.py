"""Compiled templates build strings in two places without calling the sandbox; route both through
its size checks. And every `{% for %}` walks its items through the sandbox's loop counter."""

from __future__ import annotations

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst


def count_loops(tree: nodes.Template) -> None:
    """Routes what every loop of `tree` walks through `Sandbox.counted` (a call no template can
    spell: jinja allows no node types of our own, but `environment.<name>` is only reachable from
    the tree)."""
    for loop in tree.find_all(nodes.For):
        counter = nodes.EnvironmentAttribute("counted", lineno=loop.iter.lineno)
        loop.iter = nodes.Call(counter, [loop.iter], [], None, None, lineno=loop.iter.lineno)


class BoundedCodeGenerator(CodeGenerator):
    """Routes the two ways compiled templates build strings without calling us through checks."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.bounded_buffer()")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")
