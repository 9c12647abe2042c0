"""The Jupyter kernel class that runs model code through the runtime (inside the kernel).

A wrapper kernel on ipykernel's `Kernel` base, not IPython: code is never parsed by IPython,
so `!cmd` and `%magic` mean nothing. Results travel in the execute_reply (key `rlm`), so the
host needs only the shell channel. Internal operations (load a context, list variables) are
execute requests whose metadata carries `rlm_op`.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from ipykernel.kernelbase import Kernel

from sandbox.kernel.leftovers import end_descendants
from sandbox.kernel.runtime import Runtime
from sandbox.kernel.wire import scrub


class SandboxKernel(Kernel):
    implementation = "rlm-sandbox"
    implementation_version = "1"
    language_info = {"name": "python", "mimetype": "text/x-python", "file_extension": ".py"}
    banner = "rlm sandbox kernel"
    runtime: Runtime | None = None

    # ipykernel lets SIGINT raise during the whole handling of a request; ours raises only
    # while model code runs (see `signal_guards.interruptible`), so an interrupt never costs a reply.
    def pre_handler_hook(self) -> None:
        pass

    def post_handler_hook(self) -> None:
        pass

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: Any = None,
        allow_stdin: bool = False,
        *,
        cell_meta: Any = None,
        cell_id: Any = None,
    ) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }
        assert self.runtime is not None
        op = (cell_meta or {}).get("rlm_op")
        if op:
            try:
                reply["rlm"] = {"ok": True, "result": self.runtime.internal(op, json.loads(code))}
            except BaseException as exc:  # report every failure of an internal op to the host
                reply["rlm"] = {
                    "ok": False,
                    "error": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
                }
            return _sendable(reply)
        try:
            reply["rlm"] = self.runtime.run_cell(code)
        except BaseException as exc:  # the host waits for this reply: a fault of the kernel's own is one
            reply["rlm"] = {"cell": self.runtime.cell, "stdout": "", "truncated": False, "restored": [],
                            "final": None, "error": f"KernelError: the kernel failed after the cell ran "
                                                    f"({type(exc).__name__}); its output was lost"}
        end_descendants()  # a cell cannot leave work behind it
        return _sendable(reply)


def _sendable(reply: dict[str, Any]) -> dict[str, Any]:
    """The reply with every text made valid Unicode: one lone surrogate printed by a cell (or
    in an error, an answer, a variable's name) made the reply unsendable, and the host waited
    out the cell's timeout. JSON the reply cannot be becomes an error the host reads."""
    reply = scrub(reply)
    try:
        json.dumps(reply).encode("utf-8")
    except Exception as exc:  # noqa: BLE001 - whatever it is, the host must get a reply
        reply["rlm"] = {"ok": False, "error": f"the kernel's reply could not be sent: {type(exc).__name__}"}
    return reply
