/* Sums per (time, id) of point rows: an open-addressing table of running totals, the
 * rows' compact histograms joined back to back (summed when a total is written out).
 * The batch rollups and query sums (_sketch.c) and the sums of decoded blocks (_blocks.c)
 * add into it. */
#ifndef LOGCTL_ROLLS_H
#define LOGCTL_ROLLS_H

#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t time, id;
    int64_t count, errors, client_errors, bytes, lat_count;
    double lat_sum, lat_max, first, last;
    unsigned char *hist;     /* the rows' compact histograms, back to back */
    size_t hist_len, hist_cap;
    int used;
    int64_t rows;            /* point rows summed in */
} Roll;

typedef struct {
    Roll *slots;
    size_t mask, n;
} Rolls;

static inline int rolls_init(Rolls *t) {
    t->mask = 63;
    t->n = 0;
    t->slots = calloc(t->mask + 1, sizeof(Roll));
    return t->slots ? 0 : (PyErr_NoMemory(), -1);
}

static inline void rolls_free(Rolls *t) {
    for (size_t i = 0; t->slots && i <= t->mask; i++)
        free(t->slots[i].hist);
    free(t->slots);
}

static inline size_t roll_slot(const Rolls *t, int64_t time, int64_t id) {
    uint64_t h = (uint64_t)time * 0x9E3779B97F4A7C15ULL ^ (uint64_t)id * 0xC2B2AE3D27D4EB4FULL;
    size_t at = (size_t)(h ^ h >> 29) & t->mask;
    while (t->slots[at].used && (t->slots[at].time != time || t->slots[at].id != id))
        at = (at + 1) & t->mask;
    return at;
}

static inline Roll *roll_for(Rolls *t, int64_t time, int64_t id) {
    if (2 * (t->n + 1) > t->mask + 1) {
        Rolls grown = {calloc(2 * (t->mask + 1), sizeof(Roll)), 2 * t->mask + 1, t->n};
        if (!grown.slots)
            return PyErr_NoMemory(), NULL;
        for (size_t i = 0; i <= t->mask; i++)
            if (t->slots[i].used)
                grown.slots[roll_slot(&grown, t->slots[i].time, t->slots[i].id)] = t->slots[i];
        free(t->slots);
        *t = grown;
    }
    Roll *r = &t->slots[roll_slot(t, time, id)];
    if (!r->used) {
        r->used = 1;
        r->time = time;
        r->id = id;
        t->n++;
    }
    return r;
}

typedef struct {
    int64_t count, errors, client_errors, bytes, lat_count;
    double lat_sum, lat_max, first, last;
    const char *hist;
    Py_ssize_t hist_len;
} RowSums;

static inline int roll_add(Rolls *t, int64_t time, int64_t id, const RowSums *v) {
    Roll *r = roll_for(t, time, id);
    if (!r)
        return -1;
    int fresh = !r->rows++;
    r->count += v->count;
    r->errors += v->errors;
    r->client_errors += v->client_errors;
    r->bytes += v->bytes;
    r->lat_count += v->lat_count;
    r->lat_sum += v->lat_sum;
    r->lat_max = fresh || v->lat_max > r->lat_max ? v->lat_max : r->lat_max;
    r->first = fresh || v->first < r->first ? v->first : r->first;
    r->last = fresh || v->last > r->last ? v->last : r->last;
    if (v->hist_len) {
        if (r->hist_len + (size_t)v->hist_len > r->hist_cap) {
            size_t cap = r->hist_cap ? r->hist_cap : 16;
            while (cap < r->hist_len + (size_t)v->hist_len)
                cap *= 2;
            unsigned char *grown = realloc(r->hist, cap);
            if (!grown)
                return PyErr_NoMemory(), -1;
            r->hist = grown;
            r->hist_cap = cap;
        }
        memcpy(r->hist + r->hist_len, v->hist, (size_t)v->hist_len);
        r->hist_len += (size_t)v->hist_len;
    }
    return 0;
}

#endif
