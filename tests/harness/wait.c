/* wait.c - waiting by polling with a deadline for ports, files and HTTP
 * endpoints (harness.h, "Time and waiting"). */
#include "harness_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

bool h_port_open(int port)
{
    if (port <= 0 || port > 65535)
        return false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* Loopback connects complete or fail at once, so blocking is fine. */
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

int h_wait_port(int port, int timeout_ms)
{
    bool ok;
    H_POLL(ok, h_port_open(port), timeout_ms);
    if (!ok)
        h__msg("port %d not open after %d ms", port, h_ms(timeout_ms));
    return ok ? CORIO_OK : CORIO_ERR_TIMEOUT;
}

static bool file_has(const char *path, const char *needle)
{
    size_t len;
    char *s = h__read_from(path, 0, &len);
    bool found = s && h__contains(s, len, needle);
    free(s);
    return found;
}

int h_wait_file(const char *path, const char *needle, int timeout_ms)
{
    bool ok;
    H_POLL(ok, file_has(path, needle ? needle : ""), timeout_ms);
    if (!ok)
        h__msg("\"%s\" not in %s after %d ms", needle ? needle : "", path, h_ms(timeout_ms));
    return ok ? CORIO_OK : CORIO_ERR_TIMEOUT;
}

static bool http_ok(const char *url)
{
    struct h_http_req q = {.url = url, .timeout_ms = 2000};
    struct h_http_resp r;
    bool ok = h__http(&q, &r) == CORIO_OK && r.status == 200;
    free(r.body);
    return ok;
}

int h_wait_http_ok(const char *url, int timeout_ms)
{
    bool ok;
    H_POLL(ok, http_ok(url), timeout_ms);
    if (!ok)
        h__msg("%s did not answer 200 within %d ms", url, h_ms(timeout_ms));
    return ok ? CORIO_OK : CORIO_ERR_TIMEOUT;
}
