#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static log_level min_level = LOG_NOTICE;
static FILE *sink; /* NULL = stderr */

bool log_setup(log_level min, const char *path)
{
    min_level = min;
    if (path == NULL || path[0] == '\0') {
        log_teardown();
        return true;
    }
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return false;
    log_teardown();
    sink = f;
    return true;
}

void log_set_level(log_level min)
{
    min_level = min;
}

void log_teardown(void)
{
    if (sink != NULL)
        fclose(sink);
    sink = NULL;
}

void log_write(log_level level, const char *fmt, ...)
{
    static const char marks[] = ".-*#";
    if (level < min_level)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char stamp[64];
    size_t n = strftime(stamp, sizeof stamp, "%d %b %Y %H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03d", (int)(tv.tv_usec / 1000));

    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    FILE *out = sink != NULL ? sink : stderr;
    fprintf(out, "%d:M %s %c %s\n", (int)getpid(), stamp, marks[level], msg);
    fflush(out);
}
