#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool nw_err_set(nw_err_t *err, nw_errclass_t cls, const char *code, const char *fmt, ...)
{
    if (!err)
        return false;
    err->cls = cls;
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    err->detail[0] = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return false;
}

void nw_err_prefix(nw_err_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%.200s: %.300s", prefix, old);
}

void nw_err_clear(nw_err_t *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

const char *nw_err_class_name(nw_errclass_t cls)
{
    switch (cls) {
    case NW_ERR_NONE: return "none";
    case NW_ERR_INPUT: return "input";
    case NW_ERR_ROW: return "row";
    case NW_ERR_TRANSIENT: return "transient";
    case NW_ERR_FATAL: return "fatal";
    }
    return "unknown";
}
