/* main.c - corio-ledger: see ledger/config.c (corio_ledger_main) and docs/ledger.md. */
#include "ledger_config.h"

int main(int argc, char **argv)
{
    return corio_ledger_main(argc, argv);
}
