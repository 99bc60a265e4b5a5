/*
 * aimcol.sdk._fastpath: the C half of Run.track()'s hot path.
 *
 * Why C: a training loop calls track() millions of times, and in pure Python the call
 * itself, the argument checks and five typed-column appends cost 1.2-2.3 us on a 2-core
 * machine, above the 2 us budget once the loop and the background flusher are counted.
 * Here the common case (a str name, a context the run has seen, a float/int value, an
 * int or absent step and epoch) is handled in one C call that never releases the GIL, so
 * a row is appended atomically with respect to every other thread without a lock.
 *
 * Anything else (new sequences, NumPy/bool values, dict tracking, bad input, a closed run,
 * an int sequence receiving its first float) calls the pure-Python Run.track, which
 * validates, raises Aim's errors and then appends through Columns.append.  The pure-Python
 * implementation in run.py stays the reference and the fallback when this module is not
 * built (or AIMCOL_PURE_PYTHON=1); tests/test_track_accelerator.py checks they agree.
 *
 * Columns holds the unflushed points as five growable C arrays (seq u32, step i64,
 * value f64, epoch i64 with INT64_MIN for "no epoch", time f64).  The flusher copies the
 * first n rows out with take() and removes them with drop(n) only after they are written,
 * so a failed write loses nothing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#include <windows.h>
#endif

#define NO_EPOCH INT64_MIN
/* next_step once a sequence holds step INT64_MAX: no auto-step left (sequence_registry.py) */
#define STEPS_EXHAUSTED INT64_MIN
/* ints beyond +-2**53 are not exact in the float64 value column: refused by the Python path */
#define MAX_EXACT_INT (1LL << 53)
#define FIRST_CAPACITY 4096

/* ---------------------------------------------------------------------------------------- */
/* SequenceState: writer-side state of one (name, context) sequence                           */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    unsigned int id;
    PyObject *name;
    PyObject *context;
    long long next_step;
    char is_float;
} SequenceState;

static int
SequenceState_init(SequenceState *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"seq_id", "name", "context", "next_step", "is_float", NULL};
    unsigned int seq_id;
    PyObject *name, *context;
    long long next_step;
    int is_float;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "IOOLp", kwlist, &seq_id, &name, &context, &next_step, &is_float))
        return -1;
    self->id = seq_id;
    Py_INCREF(name);
    Py_XSETREF(self->name, name);
    Py_INCREF(context);
    Py_XSETREF(self->context, context);
    self->next_step = next_step;
    self->is_float = (char)(is_float != 0);
    return 0;
}

static void
SequenceState_dealloc(SequenceState *self)
{
    Py_XDECREF(self->name);
    Py_XDECREF(self->context);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef SequenceState_members[] = {
    {"id", T_UINT, offsetof(SequenceState, id), READONLY, "sequence id in the run's manifest"},
    {"name", T_OBJECT, offsetof(SequenceState, name), READONLY, "metric name"},
    {"context", T_OBJECT, offsetof(SequenceState, context), READONLY, "context dict"},
    {"next_step", T_LONGLONG, offsetof(SequenceState, next_step), 0, "auto-step of the next point"},
    {"is_float", T_BOOL, offsetof(SequenceState, is_float), 0, "whether the sequence reads back as float"},
    {NULL},
};

static PyTypeObject SequenceStateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aimcol.sdk._fastpath.SequenceState",
    .tp_basicsize = sizeof(SequenceState),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SequenceState(seq_id, name, context, next_step, is_float): one sequence being written.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)SequenceState_init,
    .tp_dealloc = (destructor)SequenceState_dealloc,
    .tp_members = SequenceState_members,
};

/* ---------------------------------------------------------------------------------------- */
/* Columns: the unflushed points, and track()                                               */
/* ---------------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;
    Py_ssize_t capacity;
    uint32_t *seq;
    int64_t *step;
    double *value;
    int64_t *epoch;
    double *time;
    Py_ssize_t trigger;  /* call on_trigger once n reaches this */
    char closed;         /* set when the run closes: append() refuses, track() goes slow */
    PyObject *fast_cache; /* dict: name -> list of (context, SequenceState) */
    PyObject *slow;       /* the pure-Python Run.track function */
    PyObject *run_ref;    /* weak reference to the Run (no cycle through the Run) */
    PyObject *on_trigger; /* the buffer's request_flush */
} Columns;

static PyObject *kwnames_context; /* ("context",) for the slow call */
static PyObject *str_value, *str_name, *str_step, *str_epoch, *str_context;

static double
wall_clock(void)
{
#ifdef _WIN32
    FILETIME ft;
    ULARGE_INTEGER t;
    GetSystemTimePreciseAsFileTime(&ft);
    t.LowPart = ft.dwLowDateTime;
    t.HighPart = ft.dwHighDateTime;
    return (double)(t.QuadPart - 116444736000000000ULL) * 1e-7;
#else
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
#endif
}

static int
Columns_grow(Columns *self)
{
    Py_ssize_t capacity = self->capacity ? self->capacity * 2 : FIRST_CAPACITY;
    void *p;
    /* each realloc either succeeds or leaves the old block valid; capacity moves last */
    if (!(p = PyMem_Realloc(self->seq, capacity * sizeof(uint32_t)))) goto fail;
    self->seq = p;
    if (!(p = PyMem_Realloc(self->step, capacity * sizeof(int64_t)))) goto fail;
    self->step = p;
    if (!(p = PyMem_Realloc(self->value, capacity * sizeof(double)))) goto fail;
    self->value = p;
    if (!(p = PyMem_Realloc(self->epoch, capacity * sizeof(int64_t)))) goto fail;
    self->epoch = p;
    if (!(p = PyMem_Realloc(self->time, capacity * sizeof(double)))) goto fail;
    self->time = p;
    self->capacity = capacity;
    return 0;
fail:
    PyErr_NoMemory();
    return -1;
}

/* Append one row, advance the sequence's auto-step, wake the flusher at the trigger. */
static int
Columns_push(Columns *self, SequenceState *seq, int64_t step, double value, int64_t epoch)
{
    Py_ssize_t i = self->n;
    if (i == self->capacity && Columns_grow(self) < 0)
        return -1;
    self->seq[i] = seq->id;
    self->step[i] = step;
    self->value[i] = value;
    self->epoch[i] = epoch;
    self->time[i] = wall_clock();
    self->n = i + 1;
    if (seq->next_step != STEPS_EXHAUSTED && step >= seq->next_step)
        seq->next_step = step == INT64_MAX ? STEPS_EXHAUSTED : step + 1;
    if (self->n >= self->trigger && self->on_trigger != NULL) {
        PyObject *r = PyObject_CallNoArgs(self->on_trigger);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
    return 0;
}

static int
Columns_init(Columns *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fast_cache", "trigger", NULL};
    PyObject *fast_cache;
    Py_ssize_t trigger;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!n", kwlist, &PyDict_Type, &fast_cache, &trigger))
        return -1;
    Py_INCREF(fast_cache);
    Py_XSETREF(self->fast_cache, fast_cache);
    self->trigger = trigger;
    return 0;
}

static int
Columns_traverse(Columns *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fast_cache);
    Py_VISIT(self->slow);
    Py_VISIT(self->run_ref);
    Py_VISIT(self->on_trigger);
    return 0;
}

static int
Columns_clear(Columns *self)
{
    Py_CLEAR(self->fast_cache);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->run_ref);
    Py_CLEAR(self->on_trigger);
    return 0;
}

static void
Columns_dealloc(Columns *self)
{
    PyObject_GC_UnTrack(self);
    Columns_clear(self);
    PyMem_Free(self->seq);
    PyMem_Free(self->step);
    PyMem_Free(self->value);
    PyMem_Free(self->epoch);
    PyMem_Free(self->time);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t
Columns_len(Columns *self)
{
    return self->n;
}

static PyObject *
Columns_bind(Columns *self, PyObject *args)
{
    PyObject *slow, *run_ref, *on_trigger;
    if (!PyArg_ParseTuple(args, "OO!O:bind", &slow, &_PyWeakref_RefType, &run_ref, &on_trigger))
        return NULL;
    Py_INCREF(slow);
    Py_XSETREF(self->slow, slow);
    Py_INCREF(run_ref);
    Py_XSETREF(self->run_ref, run_ref);
    Py_INCREF(on_trigger);
    Py_XSETREF(self->on_trigger, on_trigger);
    Py_RETURN_NONE;
}

/* The pure-Python Run.track(run, value, name, step, epoch, context=context). */
static PyObject *
Columns_call_slow(Columns *self, PyObject *value, PyObject *name, PyObject *step, PyObject *epoch, PyObject *context)
{
    PyObject *run, *result;
    if (self->slow == NULL || self->run_ref == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "track(): this run's point buffer is not bound to a run");
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030D0000
    if (PyWeakref_GetRef(self->run_ref, &run) < 0)
        return NULL;
#else
    run = PyWeakref_GetObject(self->run_ref);
    Py_XINCREF(run);
    if (run == Py_None) {
        Py_DECREF(run);
        run = NULL;
    }
#endif
    if (run == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "track(): the run was garbage-collected and is closed");
        return NULL;
    }
    PyObject *callargs[6] = {run, value, name, step, epoch, context};
    result = PyObject_Vectorcall(self->slow, callargs, 5, kwnames_context);
    Py_DECREF(run);
    return result;
}

/* An exact int or an absent value as int64; 0 = not handled here (take the slow path). */
static int
as_int64(PyObject *obj, int64_t absent, int64_t *out)
{
    if (obj == Py_None) {
        *out = absent;
        return 1;
    }
    if (!PyLong_CheckExact(obj))
        return 0;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    *out = (int64_t)v;
    return 1;
}

static int
keyword_slot(PyObject *key)
{
    if (key == str_value) return 0;
    if (key == str_name) return 1;
    if (key == str_step) return 2;
    if (key == str_epoch) return 3;
    if (key == str_context) return 4;
    /* keyword names are usually interned; compare by value when they are not */
    if (PyUnicode_Check(key)) {
        if (PyUnicode_CompareWithASCIIString(key, "value") == 0) return 0;
        if (PyUnicode_CompareWithASCIIString(key, "name") == 0) return 1;
        if (PyUnicode_CompareWithASCIIString(key, "step") == 0) return 2;
        if (PyUnicode_CompareWithASCIIString(key, "epoch") == 0) return 3;
        if (PyUnicode_CompareWithASCIIString(key, "context") == 0) return 4;
    }
    return -1;
}

static const char *slot_names[5] = {"value", "name", "step", "epoch", "context"};

static PyObject *
Columns_track(Columns *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *slot[5] = {NULL, NULL, NULL, NULL, NULL};
    if (nargs > 4) {
        PyErr_Format(PyExc_TypeError, "track() takes from 1 to 4 positional arguments but %zd were given", nargs);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        slot[i] = args[i];
    if (kwnames != NULL) {
        Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nk; k++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, k);
            int s = keyword_slot(key);
            if (s < 0) {
                PyErr_Format(PyExc_TypeError, "track() got an unexpected keyword argument '%S'", key);
                return NULL;
            }
            if (slot[s] != NULL) {
                PyErr_Format(PyExc_TypeError, "track() got multiple values for argument '%s'", slot_names[s]);
                return NULL;
            }
            slot[s] = args[nargs + k];
        }
    }
    if (slot[0] == NULL) {
        PyErr_SetString(PyExc_TypeError, "track() missing 1 required positional argument: 'value'");
        return NULL;
    }
    for (int s = 1; s < 5; s++)
        if (slot[s] == NULL)
            slot[s] = Py_None;
    PyObject *value = slot[0], *name = slot[1], *step = slot[2], *epoch = slot[3], *context = slot[4];

    if (self->closed || self->fast_cache == NULL || !PyUnicode_CheckExact(name))
        goto slow;
    PyObject *candidates = PyDict_GetItemWithError(self->fast_cache, name); /* borrowed */
    if (candidates == NULL) {
        if (PyErr_Occurred())
            return NULL;
        goto slow;
    }
    if (!PyList_CheckExact(candidates))
        goto slow;
    SequenceState *seq = NULL;
    Py_INCREF(candidates); /* a user __eq__ below could run other threads that replace it */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(candidates); i++) {
        PyObject *pair = PyList_GET_ITEM(candidates, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2)
            continue;
        Py_INCREF(pair);
        int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(pair, 0), context, Py_EQ);
        if (eq < 0) {
            Py_DECREF(pair);
            Py_DECREF(candidates);
            return NULL;
        }
        if (eq) {
            PyObject *found = PyTuple_GET_ITEM(pair, 1);
            if (Py_IS_TYPE(found, &SequenceStateType)) {
                seq = (SequenceState *)found;
                Py_INCREF(seq);
            }
            Py_DECREF(pair);
            break;
        }
        Py_DECREF(pair);
    }
    Py_DECREF(candidates);
    if (seq == NULL)
        goto slow;

    double v;
    if (PyFloat_Check(value)) { /* float and its subclasses, numpy.float64 among them */
        if (!seq->is_float)
            goto slow_seq; /* the sequence becomes float: Python records that */
        v = PyFloat_AS_DOUBLE(value);
    }
    else if (PyLong_CheckExact(value)) {
        int overflow;
        long long iv = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || iv > MAX_EXACT_INT || iv < -MAX_EXACT_INT) /* the slow path refuses it */
            goto slow_seq;
        v = (double)iv;
    }
    else
        goto slow_seq;
    int64_t st, ep;
    if (!as_int64(step, seq->next_step, &st) || !as_int64(epoch, NO_EPOCH, &ep))
        goto slow_seq;
    if ((step == Py_None && st == STEPS_EXHAUSTED) || (epoch != Py_None && (ep > MAX_EXACT_INT || ep < -MAX_EXACT_INT)))
        goto slow_seq; /* no auto-step left, or an epoch beyond +-2**53: Python refuses */
    if (Columns_push(self, seq, st, v, ep) < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;

slow_seq:
    Py_DECREF(seq);
slow:
    return Columns_call_slow(self, value, name, step, epoch, context);
}

/* append(seq, step, value, epoch) -> bool: one validated row from the Python path. */
static PyObject *
Columns_append(Columns *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "append() takes 4 arguments (seq, step, value, epoch), got %zd", nargs);
        return NULL;
    }
    if (!Py_IS_TYPE(args[0], &SequenceStateType)) {
        PyErr_Format(PyExc_TypeError, "append() seq must be a SequenceState, got %s", Py_TYPE(args[0])->tp_name);
        return NULL;
    }
    if (self->closed)
        Py_RETURN_FALSE;
    long long step = PyLong_AsLongLong(args[1]);
    if (step == -1 && PyErr_Occurred())
        return NULL;
    double value = PyFloat_AsDouble(args[2]);
    if (value == -1.0 && PyErr_Occurred())
        return NULL;
    long long epoch = PyLong_AsLongLong(args[3]);
    if (epoch == -1 && PyErr_Occurred())
        return NULL;
    if (Columns_push(self, (SequenceState *)args[0], step, value, epoch) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

/* take() -> (n, (seq, step, value, epoch, time)): copies of the first n rows as bytes. */
static PyObject *
Columns_take(Columns *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n = self->n;
    if (self->capacity == 0 && Columns_grow(self) < 0) /* y# turns a NULL pointer into None */
        return NULL;
    PyObject *cols = Py_BuildValue(
        "(y#y#y#y#y#)",
        (const char *)self->seq, n * (Py_ssize_t)sizeof(uint32_t),
        (const char *)self->step, n * (Py_ssize_t)sizeof(int64_t),
        (const char *)self->value, n * (Py_ssize_t)sizeof(double),
        (const char *)self->epoch, n * (Py_ssize_t)sizeof(int64_t),
        (const char *)self->time, n * (Py_ssize_t)sizeof(double));
    if (cols == NULL)
        return NULL;
    return Py_BuildValue("(nN)", n, cols);
}

/* drop(n): forget the first n rows (after they were written). */
static PyObject *
Columns_drop(Columns *self, PyObject *arg)
{
    Py_ssize_t k = PyLong_AsSsize_t(arg);
    if (k == -1 && PyErr_Occurred())
        return NULL;
    if (k < 0 || k > self->n) {
        PyErr_Format(PyExc_ValueError, "drop(%zd) with %zd rows buffered", k, self->n);
        return NULL;
    }
    Py_ssize_t rest = self->n - k;
    if (rest > 0 && k > 0) {
        memmove(self->seq, self->seq + k, rest * sizeof(uint32_t));
        memmove(self->step, self->step + k, rest * sizeof(int64_t));
        memmove(self->value, self->value + k, rest * sizeof(double));
        memmove(self->epoch, self->epoch + k, rest * sizeof(int64_t));
        memmove(self->time, self->time + k, rest * sizeof(double));
    }
    self->n = rest;
    Py_RETURN_NONE;
}

static PyMethodDef Columns_methods[] = {
    {"track", (PyCFunction)(void (*)(void))Columns_track, METH_FASTCALL | METH_KEYWORDS,
     "track($self, /, value, name=None, step=None, epoch=None, *, context=None)\n--\n\n"
     "Append one point (or a dict of named points) to the (name, context) sequence; "
     "the C fast path of aimcol.Run.track, which documents it."},
    {"append", (PyCFunction)(void (*)(void))Columns_append, METH_FASTCALL,
     "append(seq, step, value, epoch) -> bool: add one row now; False once closed."},
    {"take", (PyCFunction)Columns_take, METH_NOARGS,
     "take() -> (n, columns): the buffered rows, copied, as five bytes objects."},
    {"drop", (PyCFunction)Columns_drop, METH_O, "drop(n): remove the first n rows."},
    {"bind", (PyCFunction)Columns_bind, METH_VARARGS,
     "bind(slow, run_ref, on_trigger): the Python track(), a weakref to the run, the flush request."},
    {NULL},
};

static PyMemberDef Columns_members[] = {
    {"trigger", T_PYSSIZET, offsetof(Columns, trigger), 0, "row count that calls on_trigger"},
    {"closed", T_BOOL, offsetof(Columns, closed), 0, "set at close: no more rows"},
    {"fast_cache", T_OBJECT, offsetof(Columns, fast_cache), READONLY, "name -> [(context, SequenceState)]"},
    {NULL},
};

static PySequenceMethods Columns_as_sequence = {
    .sq_length = (lenfunc)Columns_len,
};

static PyTypeObject ColumnsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aimcol.sdk._fastpath.Columns",
    .tp_basicsize = sizeof(Columns),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Columns(fast_cache, trigger): unflushed points of one run, and its track() fast path.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Columns_init,
    .tp_dealloc = (destructor)Columns_dealloc,
    .tp_traverse = (traverseproc)Columns_traverse,
    .tp_clear = (inquiry)Columns_clear,
    .tp_methods = Columns_methods,
    .tp_members = Columns_members,
    .tp_as_sequence = &Columns_as_sequence,
};

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "aimcol.sdk._fastpath",
    .m_doc = "C fast path of Run.track() (see run.py for the pure-Python reference).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    if (PyType_Ready(&SequenceStateType) < 0 || PyType_Ready(&ColumnsType) < 0)
        return NULL;
    str_value = PyUnicode_InternFromString("value");
    str_name = PyUnicode_InternFromString("name");
    str_step = PyUnicode_InternFromString("step");
    str_epoch = PyUnicode_InternFromString("epoch");
    str_context = PyUnicode_InternFromString("context");
    kwnames_context = Py_BuildValue("(s)", "context");
    if (!str_value || !str_name || !str_step || !str_epoch || !str_context || !kwnames_context)
        return NULL;
    PyObject *m = PyModule_Create(&fastpath_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&SequenceStateType);
    if (PyModule_AddObject(m, "SequenceState", (PyObject *)&SequenceStateType) < 0) {
        Py_DECREF(&SequenceStateType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&ColumnsType);
    if (PyModule_AddObject(m, "Columns", (PyObject *)&ColumnsType) < 0) {
        Py_DECREF(&ColumnsType);
        Py_DECREF(m);
        return NULL;
    }
    PyObject *no_epoch = PyLong_FromLongLong(NO_EPOCH);
    if (no_epoch == NULL || PyModule_AddObject(m, "NO_EPOCH", no_epoch) < 0) {
        Py_XDECREF(no_epoch);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
