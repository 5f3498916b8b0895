/* One-line error messages carried as values. */
#include "dptrain/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int dpt_errf(dpt_err *e, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->reported = 0;
    }
    return DPT_FAIL;
}

int dpt_err_prefix(dpt_err *e, const char *prefix)
{
    if (e) {
        char tmp[sizeof e->msg];
        size_t n = strlen(prefix);
        if (n > sizeof tmp - 3)
            n = sizeof tmp - 3;
        memcpy(tmp, prefix, n);
        memcpy(tmp + n, ": ", 2);
        size_t m = strlen(e->msg);
        if (m > sizeof tmp - n - 3)
            m = sizeof tmp - n - 3;
        memcpy(tmp + n + 2, e->msg, m);
        tmp[n + 2 + m] = '\0';
        memcpy(e->msg, tmp, sizeof tmp);
    }
    return DPT_FAIL;
}

const char *dpt_names_list(char *out, size_t n, const char *(*name)(int))
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; name(i) && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", name(i));
    return out;
}
