/* test_cloud_gwstate.c - corio-cloud's latest state per gateway (cloud/gwstate.h): what
 * is taken, what is refused and why, a newer document wins over a redelivered older one,
 * and GET /api/v1/gateways/status lists them sorted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "corio/error.h"
#include "corio_http.h"
#include "gwstate.h"
#include "harness.h"

#define GW1 "bbbbbbbbbbbbbbbbbbbbbbbb"
#define GW2 "aaaaaaaaaaaaaaaaaaaaaaaa"

static int put(struct corio_gwstate *g, const char *gw, const char *doc, char *why)
{
    return corio_gwstate_put(g, gw, (const uint8_t *)doc, strlen(doc), 1000, why, 128);
}

static void takes_checks_and_orders(void **state)
{
    (void)state;
    struct corio_gwstate *g;
    assert_int_equal(corio_gwstate_new(&g), CORIO_OK);
    char why[128];
    assert_int_equal(put(g, GW1, "{\"v\":1,\"gateway\":\"" GW1 "\",\"status\":\"ok\",\"t\":5,"
                                 "\"outbox\":{\"rows\":3}}", why),
                     CORIO_OK);
    struct {
        const char *doc;
        int rc;
        const char *why;
    } bad[] = {
        {"not json", CORIO_ERR_MALFORMED, "not JSON"},
        {"[1]", CORIO_ERR_MALFORMED, "object"},
        {"{\"gateway\":\"" GW1 "\",\"status\":\"ok\"}", CORIO_ERR_MALFORMED, "'v'"},
        {"{\"v\":2,\"gateway\":\"" GW1 "\",\"status\":\"ok\"}", CORIO_ERR_VERSION, "version"},
        {"{\"v\":1,\"gateway\":\"" GW2 "\",\"status\":\"ok\"}", CORIO_ERR_MALFORMED, "another"},
        {"{\"v\":1,\"gateway\":\"" GW1 "\"}", CORIO_ERR_MALFORMED, "status"},
        {"{\"v\":1,\"gateway\":\"" GW1 "\",\"status\":\"\"}", CORIO_ERR_MALFORMED, "status"},
        {"{\"v\":1,\"gateway\":\"" GW1 "\",\"status\":\"ok\",\"t\":\"x\"}", CORIO_ERR_MALFORMED,
         "time"},
        {"{\"v\":1,\"v\":1,\"gateway\":\"" GW1 "\",\"status\":\"ok\"}", CORIO_ERR_MALFORMED,
         "not JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(put(g, GW1, bad[i].doc, why), bad[i].rc);
        assert_non_null(strstr(why, bad[i].why));
    }
    assert_int_equal(put(g, "nope", "{}", why), CORIO_ERR_INVAL);
    /* An older document (a redelivery) does not replace a newer one; a newer one does. */
    assert_int_equal(put(g, GW1, "{\"v\":1,\"gateway\":\"" GW1 "\",\"status\":\"old\",\"t\":4}",
                         why),
                     CORIO_OK);
    assert_int_equal(put(g, GW2, "{\"v\":1,\"gateway\":\"" GW2 "\",\"status\":\"lost\"}", why),
                     CORIO_OK);
    assert_int_equal(corio_gwstate_count(g), 2);

    struct corio_http *http;
    int port = h_free_port();
    struct corio_http_opts ho = {.address = "127.0.0.1", .port = (uint16_t)port};
    assert_int_equal(corio_http_new(&http, &ho), CORIO_OK);
    assert_int_equal(corio_gwstate_route(g, http), CORIO_OK);
    char err[256];
    assert_int_equal(corio_http_start(http, err, sizeof err), CORIO_OK);
    struct h_http_resp r;
    assert_int_equal(h_http_get(h_strf("http://127.0.0.1:%d/api/v1/gateways/status", port), &r),
                     CORIO_OK);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    json_t *list = json_object_get(j, "gateways");
    assert_int_equal(json_array_size(list), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), GW2);
    json_t *s1 = json_object_get(json_array_get(list, 1), "status");
    assert_string_equal(json_string_value(json_object_get(s1, "status")), "ok");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s1, "outbox"), "rows")), 3);
    json_decref(j);
    corio_http_stop(http);
    corio_http_free(http);
    corio_gwstate_free(g);
}

static void refuses_what_is_too_large(void **state)
{
    (void)state;
    struct corio_gwstate *g;
    assert_int_equal(corio_gwstate_new(&g), CORIO_OK);
    size_t n = CORIO_GWSTATE_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    char why[128];
    assert_int_equal(corio_gwstate_put(g, GW1, (const uint8_t *)big, n, 1, why, sizeof why),
                     CORIO_ERR_MALFORMED);
    free(big);
    assert_int_equal(corio_gwstate_count(g), 0);
    corio_gwstate_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(takes_checks_and_orders),
        H_TEST(refuses_what_is_too_large),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
