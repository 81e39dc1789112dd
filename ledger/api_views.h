/*
 * api_views.h - read-only views of the contracts' state for the ledger's HTTP API:
 * JSON of the organisations, members, identities (with their key history), devices,
 * rights, proposals with their tallies, releases and parameters; W3C DID Resolution
 * for did:corio; and the registry as a height-stamped export in the format of
 * docs/registry.md, so gateways and corio-cloud can be fed from the ledger.
 *
 * Everything reads through a connection the caller owns (the engine's read-only
 * connections) inside one read transaction, so a view is one consistent height.
 * docs/ledger-contracts.md lists the routes.
 */
#ifndef CORIO_LEDGER_API_VIEWS_H
#define CORIO_LEDGER_API_VIEWS_H

#include <stddef.h>

#include <sqlite3.h>

#include "ledger_app.h"

/* struct corio_ledger_view (what a route answers) is ledger_app.h's: the contracts
 * application serves these views through the engine's route hook. */

/*
 * Answers a GET of path (no query string) when it is one of the contracts' routes:
 *   /api/v1/contracts/orgs, /orgs/<id>, /orgs/<id>/members, /orgs/<id>/devices,
 *   /identities/<id>, /devices/<id>, /rights, /params, /proposals, /proposals/<hex id>,
 *   /releases, /registry (text/plain), and /1.0/identifiers/<did> (DID Resolution).
 * Returns 1 with *out filled (also for 404 and 400 answers), 0 when path is not one
 * of these routes (out untouched), or a negative error (CORIO_ERR_IO,
 * CORIO_ERR_NOSPACE) when the database could not be read.
 */
int corio_ledger_view_route(sqlite3 *db, const char *path, struct corio_ledger_view *out);

/*
 * The registry export as text (malloc'd into *text, NUL-terminated, *len bytes):
 * "height <n>", the active organisations, gateways that are not revoked, every device
 * (those of removed organisations as revoked), and approved firmware. Returns
 * CORIO_OK, CORIO_ERR_NOTFOUND before the genesis, CORIO_ERR_IO, CORIO_ERR_NOSPACE.
 */
int corio_ledger_registry_export(sqlite3 *db, char **text, size_t *len);

#endif /* CORIO_LEDGER_API_VIEWS_H */
