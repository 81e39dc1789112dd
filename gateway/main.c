/* main.c - corio-gateway: see gateway/daemon.c. */
#include "daemon.h"

int main(int argc, char **argv)
{
    return corio_gateway_main(argc, argv);
}
