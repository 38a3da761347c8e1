/* What the native modules share: building a tuple from new references, any of which may
 * be NULL (its error set) because the calls that made them failed, and checking a fast
 * call's number of arguments. */
#ifndef LOGCTL_TUPLE_H
#define LOGCTL_TUPLE_H

#include <Python.h>

/* A tuple of n new references (a NULL among them means an error is set: all released). */
static inline PyObject *tuple_of(PyObject **items, Py_ssize_t n) {
    PyObject *tuple = NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!items[i])
            goto fail;
    tuple = PyTuple_New(n);
    if (!tuple)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(tuple, i, items[i]);
    return tuple;
fail:
    for (Py_ssize_t i = 0; i < n; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

/* Whether a METH_FASTCALL function got its `n` arguments; a TypeError naming its usage
 * when not. */
static inline int takes(Py_ssize_t nargs, Py_ssize_t n, const char *usage) {
    if (nargs == n)
        return 1;
    PyErr_SetString(PyExc_TypeError, usage);
    return 0;
}

#endif
