"""The restricted policy's stdlib stand-ins are closed at their root: they wrap, never subclass,
the classes that format or write, and what writes an item passes the write guard. Before,
`super(collections.UserString, S(fmt)).format(obj)` reached the real str.format (which reads
any attribute a field names: enough to read the kernel's HMAC key), and `operator.setitem` /
`delitem` wrote where `obj[k] = v` is refused.

Each route prints MARK only if it got through; each names the guard that must stop it."""

from __future__ import annotations

import pytest

MARK = "ESCAPED"
ESC = "print('ESC' + 'APED')"
TARGET = "'{0.__class__.__init__.__globals__}'"

ROUTES = [
    ("super of a subclass", "import collections\nclass S(collections.UserString):\n    pass\n"
     f"t = super(collections.UserString, S({TARGET})).format(1)\n{ESC}", "has no attribute 'format'"),
    ("super, format_map", "import collections\nclass S(collections.UserString):\n    pass\n"
     f"t = super(collections.UserString, S({TARGET})).format_map({{0: 1}})\n{ESC}", "has no attribute 'format_map'"),
    ("the stand-in itself", f"import collections\nt = collections.UserString({TARGET}).format(1)\n{ESC}",
     "private"),
    ("a method of the stand-in taken unbound",
     f"import collections\nf = collections.UserString.format\nt = f(collections.UserString({TARGET}), 1)\n{ESC}",
     "private"),
    ("the stand-in's bases", "import collections\nb = collections.UserString.mro()\nprint(b)\n"
     "t = [k for k in b if 'format' in dir(k) and k is not str and k is not collections.UserString]\n"
     f"if t: {ESC}", ""),
    ("operator.setitem on a module", f"import operator\nimport re\noperator.setitem(re, 'compile', 1)\n{ESC}",
     "cannot modify objects of type"),
    ("operator.delitem on a module", f"import operator\nimport json\noperator.delitem(json, 'loads')\n{ESC}",
     "cannot modify objects of type"),
    ("operator.setitem on the context", f"import operator\noperator.setitem(context, 0, 'x')\n{ESC}",
     "cannot modify objects of type"),
    ("random.shuffle on a read-only object", f"import random\nimport re\nrandom.shuffle(re)\n{ESC}",
     "cannot modify objects of type"),
]


@pytest.mark.parametrize("name, code, guard", ROUTES, ids=[r[0] for r in ROUTES])
def test_route_is_stopped_at_its_root(restricted_sb, name, code, guard):
    r = restricted_sb.execute(code)
    out = (r.stdout or "") + (r.error or "")
    assert MARK not in out, out
    assert guard in out, out
    assert restricted_sb.execute("print(1 + 1)").stdout == "2\n"


def test_the_stand_ins_still_do_their_job(restricted_sb):
    r = restricted_sb.execute(
        "import collections, operator, random\nclass S(collections.UserString):\n    def twice(self):\n"
        "        return self.data * 2\n"
        "d = {}\noperator.setitem(d, 'a', 1)\noperator.setitem(d, 'b', 2)\noperator.delitem(d, 'a')\n"
        "l = [3, 1, 2]\nrandom.shuffle(l)\n"
        "print(S('{0}-{1}').format('x', 'y'), S('ab').twice(), S('abc').upper(), len(S('abc')), d, sorted(l),"
        " isinstance(S('q'), collections.UserString), S('a') + 'b')")
    assert r.error is None, r.error
    assert r.stdout == "x-y abab ABC 3 {'b': 2} [1, 2, 3] True ab\n"
