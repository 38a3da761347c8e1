/* A batch's waiting groups as the wire's columns, and back (logctl.metrics._columns).
 *
 * The processing daemon sends a batch's groups to storage as PackedPoints: one list per
 * field, a series index per point, the histograms joined. Storage turns the columns back
 * into groups, which the stores write as rows. A sparse log has nearly a point a line, and
 * in Python each direction took a few microseconds a point (0.4 s to pack and 0.33 s to
 * unpack a million sparse lines, the latter on storage's one writer).
 *
 * A group is (minute, host, method, path, status, counters, histogram): counters a tuple
 * of nine (count, errors, client_errors, bytes, latency_count, latency_sum, latency_max,
 * first, last), the histogram int32 (bin, count) pairs as sketch.encode packs them, or
 * None. Columns carry the nine counters in that order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_pairs.h"
#include "_tuple.h"

#define COUNTERS 9
#define GROUP_FIELDS 7

/* A series seen in this call, by the identity of its strings (the scanner makes each
 * distinct key's strings once a chunk): its index, with no tuple made to look it up. */
typedef struct {
    PyObject *host, *method, *path;
    long status;
    Py_ssize_t index;
} Seen;

typedef struct {
    Seen *slots;
    size_t mask, used;
} SeenTable;

static size_t seen_hash(PyObject *host, PyObject *method, PyObject *path, long status) {
    uint64_t h = (uint64_t)(uintptr_t)host * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uintptr_t)method * 0xC2B2AE3D27D4EB4Full;
    h ^= (uint64_t)(uintptr_t)path * 0x165667B19E3779F9ull;
    h ^= (uint64_t)status * 0x27D4EB2F165667C5ull;
    return (size_t)(h ^ (h >> 29));
}

static Seen *seen_slot(SeenTable *t, PyObject *host, PyObject *method, PyObject *path,
                       long status) {
    size_t i = seen_hash(host, method, path, status) & t->mask;
    while (t->slots[i].host && !(t->slots[i].host == host && t->slots[i].method == method
                                 && t->slots[i].path == path && t->slots[i].status == status))
        i = (i + 1) & t->mask;
    return &t->slots[i];
}

static int seen_grow(SeenTable *t) {
    SeenTable bigger = {calloc(2 * (t->mask + 1), sizeof(Seen)), 2 * t->mask + 1, t->used};
    if (!bigger.slots)
        return PyErr_NoMemory(), 0;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i].host)
            *seen_slot(&bigger, t->slots[i].host, t->slots[i].method, t->slots[i].path,
                       t->slots[i].status) = t->slots[i];
    free(t->slots);
    *t = bigger;
    return 1;
}

/* The series index of a group's key: its route folded by `folded`, added to `series`
 * (key -> index) when new. -1 on an error. */
static Py_ssize_t series_index(SeenTable *t, PyObject *group, PyObject *folded,
                               PyObject *series) {
    PyObject *host = PyTuple_GET_ITEM(group, 1), *method = PyTuple_GET_ITEM(group, 2);
    PyObject *path = PyTuple_GET_ITEM(group, 3), *status = PyTuple_GET_ITEM(group, 4);
    long code = PyLong_AsLong(status);
    if (code == -1 && PyErr_Occurred())
        return -1;
    Seen *slot = seen_slot(t, host, method, path, code);
    if (slot->host)
        return slot->index;
    PyObject *route = PyDict_GetItemWithError(folded, path);
    if (!route) {
        if (!PyErr_Occurred())
            PyErr_SetObject(PyExc_KeyError, path);
        return -1;
    }
    PyObject *items[4] = {Py_NewRef(host), Py_NewRef(method), Py_NewRef(route),
                          Py_NewRef(status)};
    PyObject *key = tuple_of(items, 4);
    if (!key)
        return -1;
    Py_ssize_t index = -1;
    PyObject *known = PyDict_GetItemWithError(series, key);
    if (known) {
        index = PyLong_AsSsize_t(known);
    } else if (!PyErr_Occurred()) {
        PyObject *next = PyLong_FromSsize_t(PyDict_GET_SIZE(series));
        if (next && PyDict_SetItem(series, key, next) == 0)
            index = PyDict_GET_SIZE(series) - 1;
        Py_XDECREF(next);
    }
    Py_DECREF(key);
    if (index < 0)
        return -1;
    *slot = (Seen){host, method, path, code, index};
    if (++t->used * 2 > t->mask && !seen_grow(t))
        return -1;
    return index;
}

/* Every group of a list of lists checked for its shape; their number, -1 on an error. */
static Py_ssize_t count_groups(PyObject *lists, Py_ssize_t *hist_bytes) {
    Py_ssize_t n = 0;
    *hist_bytes = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lists); i++) {
        PyObject *list = PyList_GET_ITEM(lists, i);
        if (!PyList_Check(list)) {
            PyErr_SetString(PyExc_TypeError, "groups must be lists of group tuples");
            return -1;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(list); j++) {
            PyObject *g = PyList_GET_ITEM(list, j), *blob;
            if (!PyTuple_Check(g) || PyTuple_GET_SIZE(g) != GROUP_FIELDS
                || !PyTuple_Check(PyTuple_GET_ITEM(g, 5))
                || PyTuple_GET_SIZE(PyTuple_GET_ITEM(g, 5)) != COUNTERS
                || ((blob = PyTuple_GET_ITEM(g, 6)) != Py_None && !PyBytes_Check(blob))) {
                PyErr_SetString(PyExc_TypeError, "a group is (minute, host, method, path, "
                                "status, nine counters, histogram bytes or None)");
                return -1;
            }
            if (blob != Py_None)
                *hist_bytes += PyBytes_GET_SIZE(blob);
        }
        n += PyList_GET_SIZE(list);
    }
    return n;
}

PyDoc_STRVAR(columns_doc, "columns(groups, folded, series) -> (index, minutes, counters, "
"sizes, hists)\n\n"
"Lists of waiting groups as PackedPoints columns: each group's series index (its key,\n"
"the path folded by `folded`, looked up in `series`, which takes new keys at the next\n"
"index), minutes, the nine counter columns, each histogram's size in bytes, and the\n"
"histograms joined.");

static PyObject *columns(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *lists, *folded, *series;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyList_Type, &lists, &PyDict_Type, &folded,
                          &PyDict_Type, &series))
        return NULL;
    Py_ssize_t hist_bytes, n = count_groups(lists, &hist_bytes);
    if (n < 0)
        return NULL;
    PyObject *out[COUNTERS + 4] = {NULL};  /* index, minutes, counters..., sizes, hists */
    PyObject *result = NULL;
    SeenTable seen = {calloc(64, sizeof(Seen)), 63, 0};
    if (!seen.slots)
        return PyErr_NoMemory();
    for (int k = 0; k < COUNTERS + 3; k++)
        if (!(out[k] = PyList_New(n)))
            goto done;
    if (!(out[COUNTERS + 3] = PyBytes_FromStringAndSize(NULL, hist_bytes)))
        goto done;
    char *hists = PyBytes_AS_STRING(out[COUNTERS + 3]);
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lists); i++) {
        PyObject *list = PyList_GET_ITEM(lists, i);
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(list); j++, at++) {
            PyObject *g = PyList_GET_ITEM(list, j), *counters = PyTuple_GET_ITEM(g, 5);
            PyObject *blob = PyTuple_GET_ITEM(g, 6);
            Py_ssize_t index = series_index(&seen, g, folded, series);
            PyObject *number = index < 0 ? NULL : PyLong_FromSsize_t(index);
            Py_ssize_t size = blob == Py_None ? 0 : PyBytes_GET_SIZE(blob);
            PyObject *sized = number ? PyLong_FromSsize_t(size) : NULL;
            if (!sized) {
                Py_XDECREF(number);
                goto done;
            }
            PyList_SET_ITEM(out[0], at, number);
            PyList_SET_ITEM(out[1], at, Py_NewRef(PyTuple_GET_ITEM(g, 0)));
            for (int k = 0; k < COUNTERS; k++)
                PyList_SET_ITEM(out[2 + k], at, Py_NewRef(PyTuple_GET_ITEM(counters, k)));
            PyList_SET_ITEM(out[COUNTERS + 2], at, sized);
            if (size)
                memcpy(hists, PyBytes_AS_STRING(blob), (size_t)size);
            hists += size;
        }
    }
    PyObject *counter_columns = PyTuple_New(COUNTERS);
    if (!counter_columns)
        goto done;
    for (int k = 0; k < COUNTERS; k++) {
        PyTuple_SET_ITEM(counter_columns, k, out[2 + k]);
        out[2 + k] = NULL;
    }
    result = Py_BuildValue("(OOOOO)", out[0], out[1], counter_columns, out[COUNTERS + 2],
                           out[COUNTERS + 3]);
    Py_DECREF(counter_columns);
done:
    for (int k = 0; k < COUNTERS + 4; k++)
        Py_XDECREF(out[k]);
    free(seen.slots);
    return result;
}

static int misaligned(void) {
    PyErr_SetString(PyExc_ValueError, "their columns do not line up");
    return 0;
}

/* The columns as fast sequences, every per-point one of the same length. */
static int fast_columns(PyObject *series, PyObject *minutes, PyObject *counters,
                        PyObject *sizes, PyObject **fast, Py_ssize_t *n) {
    if (!PyTuple_Check(counters) || PyTuple_GET_SIZE(counters) != COUNTERS) {
        PyErr_SetString(PyExc_TypeError, "counters must be a tuple of nine columns");
        return 0;
    }
    PyObject *given[COUNTERS + 3] = {series, minutes};
    for (int k = 0; k < COUNTERS; k++)
        given[2 + k] = PyTuple_GET_ITEM(counters, k);
    given[COUNTERS + 2] = sizes;
    for (int k = 0; k < COUNTERS + 3; k++) {
        if (!(fast[k] = PySequence_Fast(given[k], "columns must be sequences")))
            return 0;
        if (k && PySequence_Fast_GET_SIZE(fast[k]) != *n)
            return misaligned();
        *n = PySequence_Fast_GET_SIZE(fast[k]);
    }
    return 1;
}

/* The histogram sizes add up to the joined histograms' length, each of them >= 0. */
static int sizes_fill(PyObject *sizes, Py_ssize_t hist_len) {
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sizes); i++) {
        Py_ssize_t size = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(sizes, i));
        if (size == -1 && PyErr_Occurred())
            return 0;
        if (size < 0 || size > hist_len - total)
            return misaligned();
        total += size;
    }
    return total == hist_len || misaligned();
}

/* One group from row i of the columns; NULL on an error. */
static PyObject *group_at(PyObject **fast, Py_ssize_t i, PyObject *keys, const char *hists,
                          Py_ssize_t *offset, Py_ssize_t hist_len) {
    Py_ssize_t which = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(fast[0], i));
    Py_ssize_t size = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(fast[COUNTERS + 2], i));
    if (PyErr_Occurred())
        return NULL;
    if (which < 0 || which >= PyList_GET_SIZE(keys) || size < 0 || size > hist_len - *offset)
        return misaligned(), NULL;
    PyObject *key = PyList_GET_ITEM(keys, which);
    if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) != 4) {
        PyErr_SetString(PyExc_TypeError, "a series key is (host, method, route, status)");
        return NULL;
    }
    if (size && !(whole_pairs(size) && check_pairs(hists + *offset, size / 8, 1)))
        return NULL;
    PyObject *blob = size ? PyBytes_FromStringAndSize(hists + *offset, size)
                          : Py_NewRef(Py_None);
    *offset += size;
    PyObject *counts[COUNTERS];
    for (int k = 0; k < COUNTERS; k++)
        counts[k] = Py_NewRef(PySequence_Fast_GET_ITEM(fast[2 + k], i));
    PyObject *items[GROUP_FIELDS] = {
        Py_NewRef(PySequence_Fast_GET_ITEM(fast[1], i)),
        Py_NewRef(PyTuple_GET_ITEM(key, 0)), Py_NewRef(PyTuple_GET_ITEM(key, 1)),
        Py_NewRef(PyTuple_GET_ITEM(key, 2)), Py_NewRef(PyTuple_GET_ITEM(key, 3)),
        tuple_of(counts, COUNTERS), blob};
    return tuple_of(items, GROUP_FIELDS);
}

PyDoc_STRVAR(groups_doc, "groups(keys, series, minutes, counters, sizes, hists) -> list\n\n"
"PackedPoints columns back as groups: `keys` the (host, method, route, status) of each\n"
"series, `counters` the nine counter columns. ValueError when the columns do not line\n"
"up or a histogram is corrupt.");

static PyObject *groups(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *keys, *series, *minutes, *counters, *sizes;
    Py_buffer hists;
    if (!PyArg_ParseTuple(args, "O!OOOOy*", &PyList_Type, &keys, &series, &minutes,
                          &counters, &sizes, &hists))
        return NULL;
    PyObject *fast[COUNTERS + 3] = {NULL}, *result = NULL;
    Py_ssize_t n = 0, offset = 0;
    if (!fast_columns(series, minutes, counters, sizes, fast, &n)
        || !sizes_fill(fast[COUNTERS + 2], hists.len) || !(result = PyList_New(n)))
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *group = group_at(fast, i, keys, hists.buf, &offset, hists.len);
        if (!group) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, group);
    }
done:
    for (int k = 0; k < COUNTERS + 3; k++)
        Py_XDECREF(fast[k]);
    PyBuffer_Release(&hists);
    return result;
}

static PyMethodDef methods[] = {
    {"columns", columns, METH_VARARGS, columns_doc},
    {"groups", groups, METH_VARARGS, groups_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_columns",
    "A batch's waiting groups as the wire's columns, and back.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__columns(void) { return PyModule_Create(&module); }
