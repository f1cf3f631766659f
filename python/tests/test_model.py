"""(b) A seeded-random model test: every list, dict and set operation applied to
a shared object and to a local one, results and states compared after each
step. Two processes take the steps in turn: the parent does the even ones, a
forked child (which attached by name) the odd ones, sent through a pipe.

Operations are plain tuples so that they pickle; ``apply`` runs one on either
object and returns a local, comparable result.
"""

from __future__ import annotations

import random

import pytest
from conftest import recv

import shmheap

STEPS = 400
SEEDS = [1, 2, 3]

# ---- values ---------------------------------------------------------------

SCALARS = [
    0, 1, 2, -1, 3, -3, 7, 2**40, -(2**63), 2**63 - 1,
    True, False, None, 1.5, -2.25, 1.0,
    "a", "b", "", "héllo",
    b"x", b"",
    (1, "a"), (), (None, (2.0, b"y")),
    frozenset({1, 2}),
]
HASHABLE = [v for v in SCALARS if not isinstance(v, list)]
NUMBERS = [0, 1, 2, -1, 3, -3, 7, 1.5, -2.25, True, False, 1.0, 2**40]


def rvalue(rng: random.Random, nested: bool = True):
    r = rng.random()
    if nested and r < 0.08:
        return [rng.choice(NUMBERS) for _ in range(rng.randrange(3))]
    if nested and r < 0.11:
        return {rng.choice(["k", 1, (1, 2)]): rng.choice(NUMBERS)}
    if nested and r < 0.13:
        return {rng.choice([1, "s", None])}
    if r < 0.55:
        return rng.choice(NUMBERS)
    return rng.choice(SCALARS)


def rkey(rng: random.Random):
    return rng.choice(HASHABLE[:8] + ["a", "b", (1, "a"), None, 1.0, True, b"x"])


# ---- local copies and strict comparison -----------------------------------

SHARED = (shmheap.SharedList, shmheap.SharedDict, shmheap.SharedSet, shmheap.SharedByteArray)


def deep_local(x):
    if isinstance(x, SHARED):
        return shmheap.to_python(x)
    if isinstance(x, list):
        return [deep_local(v) for v in x]
    if isinstance(x, tuple):
        return tuple(deep_local(v) for v in x)
    if isinstance(x, dict):
        return {k: deep_local(v) for k, v in x.items()}
    return x


def strict_eq(a, b) -> bool:
    """Equal, and of the same types all the way down (1 is not True is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strict_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            kb = [x for x in b if x == k]
            if len(kb) != 1 or type(kb[0]) is not type(k) or not strict_eq(v, b[kb[0]]):
                return False
        return True
    if isinstance(a, (set, frozenset)):
        if len(a) != len(b):
            return False
        return all(any(x == y and type(x) is type(y) for y in b) for x in a)
    return a == b


def unordered(it):
    return ("unordered", sorted((deep_local(v) for v in it), key=repr))


# ---- operations -----------------------------------------------------------

KEYS = {
    None: None,
    "repr": lambda x: repr(deep_local(x)),
    "len_repr": lambda x: len(repr(deep_local(x))),  # many ties: checks stability
    "neg": lambda x: -x,
}


def _item_iadd(o, i, x):
    o[i] += x


def _nested_append(o, i, x):
    o[i].append(x)


def _setdefault_append(o, k, x):
    o.setdefault(k, []).append(x)


def _set_ior(o, x):
    o |= x


def _set_iand(o, x):
    o &= x


def _set_isub(o, x):
    o -= x


def _set_ixor(o, x):
    o ^= x


LIST_OPS = {
    "getitem": lambda o, i: o[i],
    "setitem": lambda o, i, v: o.__setitem__(i, v),
    "delitem": lambda o, i: o.__delitem__(i),
    "len": lambda o: len(o),
    "contains": lambda o, v: v in o,
    "iter": lambda o: list(iter(o)),
    "reversed": lambda o: list(reversed(o)),
    "iadd": lambda o, v: o.__iadd__(v),
    "iadd_op": lambda o, v: _iadd_op(o, v),
    "imul": lambda o, n: o.__imul__(n),
    "add": lambda o, v: o + v,
    "radd": lambda o, v: v + o,
    "mul": lambda o, n: o * n,
    "rmul": lambda o, n: n * o,
    "eq": lambda o, v: o == v,
    "ne": lambda o, v: o != v,
    "lt": lambda o, v: o < v,
    "le": lambda o, v: o <= v,
    "gt": lambda o, v: o > v,
    "ge": lambda o, v: o >= v,
    "append": lambda o, v: o.append(v),
    "extend": lambda o, v: o.extend(v),
    "extend_gen": lambda o, v: o.extend(x for x in v),
    "insert": lambda o, i, v: o.insert(i, v),
    "pop": lambda o, *i: o.pop(*i),
    "remove": lambda o, v: o.remove(v),
    "clear": lambda o: o.clear(),
    "index": lambda o, v, *r: o.index(v, *r),
    "count": lambda o, v: o.count(v),
    "reverse": lambda o: o.reverse(),
    "sort": lambda o, key, rev: o.sort(key=KEYS[key], reverse=rev),
    "copy": lambda o: o.copy(),
    "item_iadd": _item_iadd,
    "nested_append": _nested_append,
}


def _iadd_op(o, v):
    o += v
    return o


DICT_OPS = {
    "getitem": lambda o, k: o[k],
    "setitem": lambda o, k, v: o.__setitem__(k, v),
    "delitem": lambda o, k: o.__delitem__(k),
    "contains": lambda o, k: k in o,
    "len": lambda o: len(o),
    "iter": lambda o: unordered(iter(o)),
    "keys": lambda o: unordered(o.keys()),
    "values": lambda o: unordered(o.values()),
    "items": lambda o: unordered(o.items()),
    "keys_and": lambda o, s: o.keys() & s,
    "keys_or": lambda o, s: o.keys() | s,
    "keys_sub": lambda o, s: o.keys() - s,
    "keys_xor": lambda o, s: o.keys() ^ s,
    "keys_disjoint": lambda o, s: o.keys().isdisjoint(s),
    "items_and": lambda o, s: o.items() & s,
    "in_keys": lambda o, k: k in o.keys(),  # noqa: SIM118 - the view's __contains__
    "in_items": lambda o, kv: kv in o.items(),
    "in_values": lambda o, v: v in o.values(),
    "len_views": lambda o: (len(o.keys()), len(o.values()), len(o.items())),
    "get": lambda o, *a: o.get(*a),
    "pop": lambda o, *a: o.pop(*a),
    "setdefault": lambda o, *a: o.setdefault(*a),
    "setdefault_append": _setdefault_append,
    "update": lambda o, d: o.update(d),
    "update_pairs": lambda o, pairs: o.update(pairs),
    "update_kw": lambda o, d, kw: o.update(d, **kw),
    "clear": lambda o: o.clear(),
    "copy": lambda o: o.copy(),
    "or": lambda o, d: o | d,
    "ror": lambda o, d: d | o,
    "ior": lambda o, d: o.__ior__(d),
    "eq": lambda o, d: o == d,
    "ne": lambda o, d: o != d,
    "fromkeys": lambda o, ks, v: type(o).fromkeys(ks, v),
    "item_iadd": _item_iadd,
    "nested_append": _nested_append,
    "popitem": lambda o: o.popitem(),
}

SET_OPS = {
    "add": lambda o, v: o.add(v),
    "discard": lambda o, v: o.discard(v),
    "remove": lambda o, v: o.remove(v),
    "clear": lambda o: o.clear(),
    "contains": lambda o, v: v in o,
    "len": lambda o: len(o),
    "iter": lambda o: unordered(iter(o)),
    "or": lambda o, s: o | s,
    "and": lambda o, s: o & s,
    "sub": lambda o, s: o - s,
    "xor": lambda o, s: o ^ s,
    "ror": lambda o, s: s | o,
    "rand": lambda o, s: s & o,
    "rsub": lambda o, s: s - o,
    "rxor": lambda o, s: s ^ o,
    "ior": _set_ior,
    "iand": _set_iand,
    "isub": _set_isub,
    "ixor": _set_ixor,
    "union": lambda o, *s: o.union(*s),
    "intersection": lambda o, *s: o.intersection(*s),
    "difference": lambda o, *s: o.difference(*s),
    "symmetric_difference": lambda o, s: o.symmetric_difference(s),
    "update": lambda o, *s: o.update(*s),
    "intersection_update": lambda o, *s: o.intersection_update(*s),
    "difference_update": lambda o, *s: o.difference_update(*s),
    "symmetric_difference_update": lambda o, s: o.symmetric_difference_update(s),
    "issubset": lambda o, s: o.issubset(s),
    "issuperset": lambda o, s: o.issuperset(s),
    "isdisjoint": lambda o, s: o.isdisjoint(s),
    "lt": lambda o, s: o < s,
    "le": lambda o, s: o <= s,
    "gt": lambda o, s: o > s,
    "ge": lambda o, s: o >= s,
    "rlt": lambda o, s: s < o,
    "rge": lambda o, s: s >= o,
    "eq": lambda o, s: o == s,
    "ne": lambda o, s: o != s,
    "copy": lambda o: o.copy(),
    "pop": lambda o: o.pop(),
}

OPS = {"list": LIST_OPS, "dict": DICT_OPS, "set": SET_OPS}
# Intersections: which of two equal elements of different types (1, 1.0, True)
# is kept is CPython's implementation detail (it iterates over the smaller
# operand), so results and the state after them are compared with == only,
# and the model takes the shared object's elements.
RELAXED = {
    "list": set(),
    "dict": {"keys_and", "items_and"},
    "set": {"and", "rand", "iand", "intersection", "intersection_update"},
}
# Operations whose result is not determined by the model: checked specially.
FREE_CHOICE = {("dict", "popitem"), ("set", "pop")}


# In-place operators: `x += y` rebinds x to what __iadd__ returns, which may be
# another wrapper of the same shared object.
INPLACE = {"iadd", "iadd_op", "imul", "ior", "iand", "isub", "ixor"}


def apply(kind: str, obj, op: tuple):
    name, *args = op
    try:
        r = OPS[kind][name](obj, *args)
        if r is obj or (name in INPLACE and type(r) is type(obj)):
            return ("self",)
        if isinstance(r, tuple) and r and r[0] == "unordered":
            return r
        return ("ok", deep_local(r))
    except Exception as e:  # noqa: BLE001 - the exception is the result
        return ("raise", type(e).__name__, [c.__name__ for c in type(e).__mro__])


# ---- random operations, made from the local state -------------------------


def rindex(rng, n):
    return rng.randrange(-n - 2, n + 2)


def rslice(rng, n):
    def bound():
        return None if rng.random() < 0.25 else rng.randrange(-n - 2, n + 3)

    step = rng.choice([None, None, 1, 2, 3, -1, -2, -3])
    return slice(bound(), bound(), step)


def rvalues(rng, k=None):
    return [rvalue(rng) for _ in range(rng.randrange(4) if k is None else k)]


def gen_list_op(rng, local: list):
    n = len(local)
    if n > 40:
        return rng.choice([("delitem", slice(None, None, 2)), ("clear",), ("delitem", slice(5, None))])
    name = rng.choice(list(LIST_OPS))
    if name == "getitem" or name == "delitem":
        return (name, rindex(rng, n) if rng.random() < 0.5 else rslice(rng, n))
    if name == "setitem":
        if rng.random() < 0.5:
            return (name, rindex(rng, n), rvalue(rng))
        s = rslice(rng, n)
        if s.step in (None, 1):
            return (name, s, rvalues(rng))
        k = len(range(*s.indices(n)))
        return (name, s, rvalues(rng, k if rng.random() < 0.85 else k + 1))
    if name in ("contains", "remove", "count"):
        pool = local + [rvalue(rng)] if local else [rvalue(rng)]
        return (name, rng.choice(pool))
    if name == "index":
        pool = local + [rvalue(rng)] if local else [rvalue(rng)]
        v = rng.choice(pool)
        if rng.random() < 0.5:
            return (name, v)
        return (name, v, rindex(rng, n), rindex(rng, n) + rng.randrange(3))
    if name in ("iadd", "iadd_op", "extend", "extend_gen", "add", "radd"):
        vals = rvalues(rng)
        if name in ("iadd", "extend") and rng.random() < 0.2:
            vals = tuple(vals)
        if name == "iadd" and rng.random() < 0.05:
            vals = 5  # not iterable: TypeError
        return (name, vals)
    if name in ("imul", "mul", "rmul"):
        return (name, rng.choice([-1, 0, 1, 2, 3]) if n <= 10 else rng.choice([0, 1]))
    if name in ("eq", "ne", "lt", "le", "gt", "ge"):
        other = list(local)
        r = rng.random()
        if r < 0.3 and other:
            other[rng.randrange(len(other))] = rvalue(rng)
        elif r < 0.5:
            other.append(rng.choice(NUMBERS))
        elif r < 0.6 and other:
            other.pop()
        elif r < 0.7:
            other = rvalues(rng)
        other = deep_local(other)
        if name in ("lt", "le", "gt", "ge") and not all(_is_num(x) for x in local + other):
            name = rng.choice(["eq", "ne"])
        return (name, other)
    if name in ("append",):
        return (name, rvalue(rng))
    if name == "insert":
        return (name, rng.randrange(-n - 3, n + 4), rvalue(rng))
    if name == "pop":
        return (name,) if rng.random() < 0.4 else (name, rindex(rng, n))
    if name == "clear":
        return (name,) if rng.random() < 0.2 else ("len",)
    if name == "sort":
        key = None if all(_is_num(x) for x in local) else rng.choice(["repr", "len_repr"])
        if key is None and rng.random() < 0.5:
            key = rng.choice(["neg", "len_repr", "repr"])
        return (name, key, rng.random() < 0.5)
    if name == "item_iadd":
        cands = [i for i, v in enumerate(local) if _iadd_delta(v) is not None]
        if not cands:
            return ("append", rng.choice(NUMBERS))
        i = rng.choice(cands)
        return (name, i - n if rng.random() < 0.5 else i, _iadd_delta(local[i]))
    if name == "nested_append":
        cands = [i for i, v in enumerate(local) if isinstance(v, list)]
        if not cands:
            return ("append", [rng.choice(NUMBERS)])
        return (name, rng.choice(cands), rvalue(rng, nested=False))
    return (name,)


def _is_num(x):
    return isinstance(x, (int, float))


def _iadd_delta(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return 1 if abs(v) < 2**62 else None
    if isinstance(v, float):
        return 0.5
    if isinstance(v, str):
        return "z"
    if isinstance(v, tuple):
        return (9,)
    if isinstance(v, list):
        return [4]
    return None


def gen_dict_op(rng, local: dict):
    n = len(local)
    if n > 30:
        return rng.choice([("clear",), ("popitem",), ("pop", rng.choice(list(local)))])
    name = rng.choice(list(DICT_OPS))
    keys = list(local)

    def some_key():
        return rng.choice(keys) if keys and rng.random() < 0.6 else rkey(rng)

    def some_dict(k=None):
        return {rkey(rng): rvalue(rng) for _ in range(rng.randrange(4) if k is None else k)}

    if name in ("getitem", "delitem", "contains", "in_keys"):
        return (name, some_key())
    if name == "setitem":
        return (name, some_key(), rvalue(rng))
    if name in ("keys_and", "keys_or", "keys_sub", "keys_xor", "keys_disjoint"):
        return (name, {some_key() for _ in range(rng.randrange(4))})
    if name == "items_and":
        if not all(_hashable(v) for v in local.values()):
            return ("len_views",)  # a local dict's items view hashes its values
        s = {(k, local[k]) for k in keys[:2] if _hashable(local[k])}
        s.add((rkey(rng), rng.choice(NUMBERS)))
        return (name, s)
    if name == "in_items":
        if keys and rng.random() < 0.6:
            k = rng.choice(keys)
            v = local[k] if rng.random() < 0.7 else rvalue(rng)
            return (name, (k, deep_local(v)))
        return (name, (rkey(rng), rvalue(rng)))
    if name == "in_values":
        vals = list(local.values())
        return (name, deep_local(rng.choice(vals)) if vals and rng.random() < 0.6 else rvalue(rng))
    if name == "get":
        return (name, some_key()) if rng.random() < 0.5 else (name, some_key(), rvalue(rng))
    if name == "pop":
        return (name, some_key()) if rng.random() < 0.5 else (name, some_key(), rvalue(rng))
    if name == "setdefault":
        return (name, some_key()) if rng.random() < 0.3 else (name, some_key(), rvalue(rng))
    if name == "setdefault_append":
        cands = [k for k, v in local.items() if isinstance(v, list)]
        k = rng.choice(cands) if cands and rng.random() < 0.7 else rng.choice(["new", 99, ("n",)])
        if k in local and not isinstance(local[k], list):
            return ("len",)
        return (name, k, rng.choice(NUMBERS))
    if name in ("update", "or", "ror", "ior", "eq", "ne"):
        if name in ("eq", "ne") and rng.random() < 0.5:
            return (name, deep_local(local))
        return (name, some_dict())
    if name == "update_pairs":
        return (name, [(some_key(), rvalue(rng)) for _ in range(rng.randrange(3))])
    if name == "update_kw":
        return (name, some_dict(1), {rng.choice(["a", "b", "kw"]): rvalue(rng)})
    if name == "fromkeys":
        return (name, [rkey(rng) for _ in range(3)], rvalue(rng, nested=False))
    if name == "item_iadd":
        cands = [k for k, v in local.items() if _iadd_delta(v) is not None]
        if not cands:
            return ("setitem", rkey(rng), rng.choice([1, 2, 3]))
        k = rng.choice(cands)
        return (name, k, _iadd_delta(local[k]))
    if name == "nested_append":
        cands = [k for k, v in local.items() if isinstance(v, list)]
        if not cands:
            return ("setitem", rkey(rng), [1])
        return (name, rng.choice(cands), rvalue(rng, nested=False))
    if name == "clear":
        return (name,) if rng.random() < 0.15 else ("len",)
    return (name,)


def _hashable(v):
    try:
        hash(v)
    except TypeError:
        return False
    return True


def gen_set_op(rng, local: set):
    n = len(local)
    if n > 30:
        return rng.choice([("clear",), ("pop",), ("difference_update", set(list(local)[:20]))])
    name = rng.choice(list(SET_OPS))
    elems = list(local)

    def some():
        return rng.choice(elems) if elems and rng.random() < 0.5 else rkey(rng)

    def some_set():
        return {some() for _ in range(rng.randrange(5))}

    if name in ("add", "discard", "remove", "contains"):
        return (name, some())
    if name in ("union", "intersection", "difference", "update", "intersection_update",
                "difference_update"):
        others = [some_set() for _ in range(rng.randrange(3))]
        if others and rng.random() < 0.3:
            others[0] = list(others[0])  # any iterable
        return (name, *others)
    if name in ("symmetric_difference", "symmetric_difference_update", "issubset",
                "issuperset", "isdisjoint"):
        s = some_set()
        return (name, list(s) if rng.random() < 0.3 else s)
    if name in ("eq", "ne", "lt", "le", "gt", "ge", "rlt", "rge"):
        r = rng.random()
        if r < 0.3:
            s = set(local)
        elif r < 0.5:
            s = set(local) | {rkey(rng)}
        elif r < 0.7 and local:
            s = set(elems[1:])
        else:
            s = some_set()
        return (name, frozenset(s) if rng.random() < 0.3 else s)
    if name in ("or", "and", "sub", "xor", "ror", "rand", "rsub", "rxor", "ior", "iand",
                "isub", "ixor"):
        s = some_set()
        return (name, frozenset(s) if rng.random() < 0.3 else s)
    if name == "clear":
        return (name,) if rng.random() < 0.15 else ("len",)
    return (name,)


GEN = {"list": gen_list_op, "dict": gen_dict_op, "set": gen_set_op}
EMPTY = {"list": list, "dict": dict, "set": set}


# ---- the two processes ------------------------------------------------------


def model_child(seg_name: str, kind: str, conn) -> None:
    seg = shmheap.Segment.attach(seg_name)
    try:
        while True:
            op = conn.recv()
            if op is None:
                break
            with seg.turn(timeout=30) as t:
                res = apply(kind, t.root["model"][kind], op)
            conn.send(res)
    finally:
        conn.close()
        seg.close()


def check_result(kind, op, local_res, shared_res, history):
    same = (lambda a, b: a == b) if op[0] in RELAXED[kind] else strict_eq
    def fail(why):
        tail = "\n  ".join(repr(h) for h in history[-12:])
        pytest.fail(f"{kind} op {op!r}: {why}\n  local:  {local_res!r}\n  shared: {shared_res!r}"
                    f"\n  last ops:\n  {tail}")

    if local_res[0] == "raise":
        if shared_res[0] != "raise":
            fail("the local one raised, the shared one did not")
        if local_res[1] not in shared_res[2]:
            fail("different exception")
        return
    if shared_res[0] == "raise":
        fail("the shared one raised")
    if local_res[0] != shared_res[0]:
        fail("different kind of result")
    if local_res[0] == "self":
        return
    if not same(local_res[1], shared_res[1]):
        fail("different result")


def free_choice(kind, op, local, shared_res, history):
    """dict.popitem / set.pop: any item may come out; it must be one the model had."""
    if not local:
        check_result(kind, op, ("raise", "KeyError", []), shared_res, history)
        return
    if shared_res[0] != "ok":
        pytest.fail(f"{kind} {op!r} on a non-empty object gave {shared_res!r}")
    if kind == "dict":
        k, v = shared_res[1]
        assert k in local and strict_eq(deep_local(local[k]), v), (op, shared_res, local)
        del local[k]
    else:
        v = shared_res[1]
        assert v in local, (op, shared_res, local)
        local.discard(v)


def unalias(x):
    """A copy in which no list, dict or set appears twice: the segment copies
    values in (``lst *= 2`` makes two lists), a local list aliases them."""
    if isinstance(x, list):
        return [unalias(v) for v in x]
    if isinstance(x, dict):
        return {k: unalias(v) for k, v in x.items()}
    if isinstance(x, set):
        return set(x)
    return x


def run_model(kind: str, seed: int, seg, procs) -> None:
    import multiprocessing as mp

    rng = random.Random(seed * 10 + {"list": 1, "dict": 2, "set": 3}[kind])
    with seg.turn(timeout=10) as t:
        t.root["model"] = {"list": [], "dict": {}, "set": set()}
    parent_end, child_end = mp.get_context("fork").Pipe()
    child = procs.start(model_child, seg.name, kind, child_end)
    child_end.close()
    local = EMPTY[kind]()
    history = []
    try:
        for step in range(STEPS):
            op = GEN[kind](rng, local)
            history.append((step, op))
            if step % 2:
                parent_end.send(op)
                shared_res = recv(parent_end, 30)
            else:
                with seg.turn(timeout=30) as t:
                    shared_res = apply(kind, t.root["model"][kind], op)
            if (kind, op[0]) in FREE_CHOICE:
                free_choice(kind, op, local, shared_res, history)
            else:
                local_res = apply(kind, local, op)
                check_result(kind, op, local_res, shared_res, history)
            local = unalias(local)
            with seg.turn(timeout=30) as t:
                obj = t.root["model"][kind]
                copy = deep_local(obj)
                if op[0] in RELAXED[kind] and copy == local:
                    local = copy
                if not strict_eq(copy, local) or len(obj) != len(local) or not obj == local:  # noqa: SIM201
                    tail = "\n  ".join(repr(h) for h in history[-12:])
                    pytest.fail(f"after step {step} {op!r}:\n  local:  {local!r}\n  shared: "
                                f"{copy!r}\n  last ops:\n  {tail}")
                if step % 50 == 49:
                    t.validate()
    finally:
        parent_end.send(None)
        procs.join(child, 30)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["list", "dict", "set"])
def test_model_two_processes(kind, seed, seg, procs):
    run_model(kind, seed, seg, procs)


def test_dict_keeps_insertion_order(seg):
    """A dict's iteration, views, reversed() and popitem() follow insertion
    order, as a Python dict's do (the stubs give SharedDict __reversed__)."""
    rng = random.Random(5)
    local: dict = {}
    with seg.turn(timeout=10) as t:
        d = t.put_message({})
        for _ in range(300):
            k = rng.randrange(40)
            r = rng.random()
            if r < 0.6:
                local[k] = k * 2
                d[k] = k * 2
            elif r < 0.8 and k in local:
                del local[k]
                del d[k]
            elif r < 0.9 and local:
                assert d.popitem() == local.popitem()
            assert list(d) == list(local)
        assert list(d.keys()) == list(local.keys())
        assert list(d.values()) == list(local.values())
        assert list(d.items()) == list(local.items())
        assert list(reversed(d)) == list(reversed(local))
        assert list(shmheap.to_python(d)) == list(local)
        t.free(t.take_message())
