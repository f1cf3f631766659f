"""Python objects that shmheap has no value kind of its own for.

The native conversion (``python/src/convert.rs``) calls in here last, after
every built-in kind:

* An instance of a *plain class* (see ``_plan``: a class written in Python,
  importable by its path, whose state is its ``__dict__`` and ``__slots__``
  and nothing else) is stored as an **object**: its class's import path
  (``"module:qualname"``) and a dict of its attributes, which lives in the
  segment. Reading it gives a *live instance*: an instance of a subclass of
  that class, made once per class and process (``_proxy_class``), whose
  attribute reads and writes go to the shared dict, so ``obj.n += 1`` in one
  process is seen by the others; its methods, properties and class
  attributes are the class's own. ``__init__`` is not called.
* Anything else is **pickled** (``pickle.dumps``, highest protocol; pickle is
  imported on first use) and comes back unpickled: a local **copy**.

Nothing here is public API; the rules are documented in the README (the
Python section) and the stubs.
"""

from __future__ import annotations

import abc
import copyreg
import importlib
import sys
import types
import weakref

from ._errors import ClassNotFound

_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class made at run time (not a static C type)
_MEMBER = types.MemberDescriptorType
_MISSING = object()


class _D:
    __slots__ = ("__dict__",)


class _W:
    __slots__ = ("__weakref__",)


# What a __dict__ and a __weakref__ add to an instance's C size (it differs
# between Python versions: 3.11 keeps the dict before the object).
_DICT_COST = _D.__basicsize__ - object.__basicsize__
_WEAK_COST = _W.__basicsize__ - object.__basicsize__
del _D, _W

# The hooks a class uses to take its state, its pickling or its attribute
# access in its own hands: a class that defines any of them is pickled.
_OWN_STATE = (
    "__reduce__",
    "__reduce_ex__",
    "__getstate__",
    "__setstate__",
    "__getnewargs__",
    "__getnewargs_ex__",
    "__getattribute__",
    "__setattr__",
    "__delattr__",
)
_OBJECT_HOOKS = {name: getattr(object, name, None) for name in _OWN_STATE}


class _Proxy:
    """Base of every live-instance class (a marker: the native side tells
    live instances apart with one isinstance check)."""

    __slots__ = ()


# class -> (path, slot names, has __dict__) if plain, else the reason to pickle
_plans: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# class -> its live-instance class
_proxies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# class path -> the class (resolved in this process)
_classes: dict[str, type] = {}
_pickle = None


def _pickler():
    global _pickle
    if _pickle is None:
        import pickle

        _pickle = pickle
    return _pickle


def _defining(cls, name):
    """The class of ``cls``'s MRO whose own namespace defines ``name``."""
    for c in cls.__mro__:
        if name in vars(c):
            return c
    return None


def _dataclass_hook(cls, name):
    """Whether ``cls.<name>`` is a hook that ``@dataclass`` wrote (the only
    hooks a plain class may have): the ``__setattr__``/``__delattr__`` of
    ``frozen=True``, the ``__getstate__``/``__setstate__`` of ``slots=True``."""
    c = _defining(cls, name)
    if c is None:
        return False
    if name in ("__setattr__", "__delattr__"):
        params = vars(c).get("__dataclass_params__")
        return params is not None and params.frozen
    if name in ("__getstate__", "__setstate__"):
        f = vars(c)[name]
        return (
            "__dataclass_fields__" in vars(c)
            and getattr(f, "__module__", None) == "dataclasses"
            and getattr(f, "__qualname__", "").startswith("_dataclass_")
        )
    return False


def _layout_is_python(cls):
    """Whether every class of the MRO but ``object`` is a Python class whose
    instances hold nothing but ``__slots__``, ``__dict__`` and
    ``__weakref__`` (no C-level state: not a subclass of a built-in or of
    an extension type)."""
    for c in cls.__mro__[:-1]:
        if not c.__flags__ & _HEAPTYPE or c.__itemsize__:
            return False
        if "__slots__" not in vars(c) and not c.__dictoffset__:
            return False
    c = cls
    while c is not object:
        b = c.__base__
        own = 8 * sum(
            1 for v in vars(c).values() if type(v) is _MEMBER and v.__objclass__ is c
        )
        if c.__dictoffset__ and not b.__dictoffset__:
            own += _DICT_COST
        if c.__weakrefoffset__ and not b.__weakrefoffset__:
            own += _WEAK_COST
        if c.__basicsize__ - b.__basicsize__ != own:
            return False
        c = b
    return True


def _path_of(cls):
    """``"module:qualname"`` if ``cls`` is found again by that path here."""
    module, qual = getattr(cls, "__module__", None), getattr(cls, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qual, str) or "<locals>" in qual:
        return None
    obj = sys.modules.get(module)
    for part in qual.split("."):
        obj = getattr(obj, part, None)
    if obj is not cls:
        return None
    path = f"{module}:{qual}"
    return path if len(path.encode()) <= 1024 else None


def _why_not_plain(cls):
    """None if instances of ``cls`` are stored as objects, else why they are
    pickled."""
    if not cls.__flags__ & _HEAPTYPE:
        return "it is a built-in or extension type"
    meta = type(cls)
    if meta is not type and not (
        meta is abc.ABCMeta or (issubclass(meta, abc.ABCMeta) and meta.__module__ == "typing")
    ):
        return f"its metaclass is {meta.__qualname__}"
    if not _layout_is_python(cls):
        return "it is or derives from a built-in or extension type"
    for name in _OWN_STATE:
        if getattr(cls, name, None) is not _OBJECT_HOOKS[name] and not _dataclass_hook(cls, name):
            return f"it defines {name}"
    if cls in copyreg.dispatch_table:
        return "copyreg has a reducer for it"
    c = _defining(cls, "__init_subclass__")
    if c is not object and getattr(c, "__module__", None) != "typing":
        return "it defines __init_subclass__"
    if _path_of(cls) is None:
        return "it cannot be imported by its module and qualified name"
    return None


def _slots(cls):
    """The ``__slots__`` of ``cls``'s instances, base classes first: (name,
    member descriptor) pairs (names as stored: private ones mangled)."""
    out = {}
    for c in reversed(cls.__mro__):
        for name, v in vars(c).items():
            if type(v) is _MEMBER and v.__objclass__ is c and name not in out:
                out[name] = v
    return tuple(out.items())


def _plan(cls):
    try:
        return _plans[cls]
    except KeyError:
        pass
    except TypeError:  # not weak-referenceable: no class of ours
        return "its class cannot be weakly referenced"
    why = _why_not_plain(cls)
    plan = why if why is not None else (_path_of(cls), _slots(cls), bool(cls.__dictoffset__))
    _plans[cls] = plan
    return plan


# ---- writing ----------------------------------------------------------------------------


def _store(obj):
    """What to write for ``obj``: ``(class path, attribute dict)`` for an
    object (the dict is converted like any dict; a live instance gives its
    shared dict, copied), else the pickle's bytes."""
    if isinstance(obj, _Proxy):
        p = type(obj)
        return (p._shmheap_path_, p._shmheap_get_(obj))
    cls = type(obj)
    plan = _plan(cls)
    if type(plan) is tuple:
        path, slots, has_dict = plan
        attrs = {}
        for name, member in slots:
            try:
                attrs[name] = member.__get__(obj, cls)
            except AttributeError:  # an empty slot
                pass
        if has_dict:
            attrs.update(obj.__dict__)
        return (path, attrs)
    pickle = _pickler()
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        raise TypeError(
            f"shmheap cannot store a value of type {cls.__qualname__!r}: it is not stored as a "
            f"live object ({plan}) and pickling it failed: {type(e).__name__}: {e}"
        ) from e


# ---- reading ----------------------------------------------------------------------------


def _resolve(path):
    """The class at ``path`` in this process (imported if needed)."""
    cls = _classes.get(path)
    if cls is not None:
        return cls
    module, sep, qual = path.partition(":")
    if not sep or not module or not qual:
        raise ClassNotFound(f"cannot import class {path!r}: not a 'module:qualname' path", path)
    try:
        obj = sys.modules.get(module) or importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ClassNotFound(
            f"cannot import class {path!r} of an object in the segment: {type(e).__name__}: {e}",
            path,
        ) from e
    if not isinstance(obj, type):
        raise ClassNotFound(f"{path!r} names a {type(obj).__qualname__}, not a class", path)
    why = _why_not_plain(obj)
    if why is not None and not why.startswith("it cannot be imported"):
        raise ClassNotFound(
            f"class {path!r} cannot hold an object from the segment here: {why}", path
        )
    _classes[path] = obj
    return obj


def _new(cls, target):
    """A bare instance of ``target`` (``cls`` or its live-instance class),
    as pickle makes one: ``cls.__new__``, no ``__init__``."""
    new = cls.__new__
    return object.__new__(target) if new is object.__new__ else new(target)


def _proxy_class(cls, path):
    p = _proxies.get(cls)
    if p is not None:
        return p
    frozen = _dataclass_hook(cls, "__setattr__")
    only = None if cls.__dictoffset__ else frozenset(name for name, _ in _slots(cls))
    plain_eq = cls.__eq__ is object.__eq__
    oga = object.__getattribute__
    osa = object.__setattr__
    oda = object.__delattr__
    missing = _MISSING
    local: frozenset = frozenset()  # set below, once the class exists
    get = None

    # Names looked up as on any instance, never in the shared dict: the
    # class's data descriptors (properties, __class__, __dict__; not its
    # slots, which are shared) and dunder names (special methods, and
    # what pickle, copy and the like probe for: no turn needed for them).
    def __getattribute__(self, name):
        if name in local or (name[:1] == "_" and name[:2] == "__" and name[-2:] == "__"):
            return oga(self, name)
        v = get(self).get(name, missing)
        return oga(self, name) if v is missing else v

    def __setattr__(self, name, value):
        if frozen:
            raise _frozen_error(name)
        if name in local or (name[:1] == "_" and name[:2] == "__" and name[-2:] == "__"):
            return osa(self, name, value)
        if only is not None and name not in only:
            # No __dict__: only the class's slots can be set, as locally.
            raise AttributeError(
                f"{cls.__qualname__!r} object has no attribute {name!r}", name=name, obj=self
            )
        get(self)[name] = value

    def __delattr__(self, name):
        if frozen:
            raise _frozen_error(name)
        if name in local or (name[:1] == "_" and name[:2] == "__" and name[-2:] == "__"):
            return oda(self, name)
        d = get(self)
        if name not in d:
            raise AttributeError(
                f"{cls.__qualname__!r} object has no attribute {name!r}", name=name, obj=self
            )
        del d[name]

    def __reduce_ex__(self, protocol):
        # Pickled (to another process) as a live instance of the same
        # shared object, as every shared object is.
        return (_rebuild, (path, get(self)))

    def __copy__(self):
        return _to_local(self)

    def __deepcopy__(self, memo=None):
        return _to_local(self)

    ns = {
        "__slots__": ("_shmheap_attrs_",),
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
        "__getattribute__": __getattribute__,
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
        "__reduce_ex__": __reduce_ex__,
        "__copy__": __copy__,
        "__deepcopy__": __deepcopy__,
        # obj.__class__ is the user's class (dataclass __eq__ compares
        # classes; repr names it); type(obj) is this subclass.
        "__class__": property(lambda self: cls),
        "_shmheap_class_": cls,
        "_shmheap_path_": path,
    }
    if cls.__dictoffset__:
        ns["__dict__"] = property(lambda self: get(self), doc="The shared attribute dict.")
    if plain_eq:
        # Identity, as for a local instance: two reads of one shared object
        # are the same object.
        def __eq__(self, other):
            if not isinstance(other, _Proxy):
                return NotImplemented
            return _ident(get(self)) == _ident(type(other)._shmheap_get_(other))

        def __hash__(self):
            return hash(_ident(get(self)))

        ns["__eq__"] = __eq__
        ns["__hash__"] = __hash__
    p = type(cls)(cls.__name__, (cls, _Proxy), ns)
    member = vars(p)["_shmheap_attrs_"]
    get = member.__get__
    p._shmheap_get_ = staticmethod(get)
    p._shmheap_set_ = staticmethod(member.__set__)
    slots = {name for name, _ in _slots(cls)}
    seen = set()
    names = set()
    for c in p.__mro__:
        for name, v in vars(c).items():
            if name in seen:
                continue
            seen.add(name)
            t = type(v)
            if t is _MEMBER and name in slots:
                continue  # the class's own slots live in the shared dict
            if hasattr(t, "__set__") or hasattr(t, "__delete__"):
                names.add(name)
    local = frozenset(names)
    _proxies[cls] = p
    return p


def _ident(d):
    """Which shared dict ``d`` is (its offset and generation)."""
    return d.__reduce__()[1][2:]


def _frozen_error(name):
    import dataclasses

    return dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _wrap(path, shared):
    """A live instance of the class at ``path`` over the shared dict."""
    cls = _resolve(path)
    p = _proxy_class(cls, path)
    obj = _new(cls, p)
    p._shmheap_set_(obj, shared)
    return obj


def _rebuild(path, shared):
    return _wrap(path, shared)


def _local(path, attrs):
    """A local instance of the class at ``path`` holding ``attrs`` (local
    values), as pickle would rebuild it."""
    cls = _resolve(path)
    obj = _new(cls, cls)
    plan = _plan(cls)
    slots = {name for name, _ in plan[1]} if type(plan) is tuple else ()
    has_dict = bool(cls.__dictoffset__)
    osa = object.__setattr__
    for k, v in attrs.items():
        if has_dict and k not in slots:
            obj.__dict__[k] = v
        else:
            osa(obj, k, v)
    return obj


def _to_local(proxy):
    """``shmheap.to_python(proxy)``: a local instance, every attribute a
    local copy."""
    from . import to_python

    p = type(proxy)
    return _local(p._shmheap_path_, to_python(p._shmheap_get_(proxy)))


def _unpickle(data):
    """A pickled value, unpickled (a copy)."""
    try:
        return _pickler().loads(data)
    except (ImportError, AttributeError) as e:
        raise ClassNotFound(
            f"cannot unpickle an object from the segment: {type(e).__name__}: {e}", None
        ) from e
