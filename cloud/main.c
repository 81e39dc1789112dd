/* main.c - corio-cloud: everything is in the corio_cloud library (cloud.h). */
#include "cloud.h"

int main(int argc, char **argv)
{
    return corio_cloud_main(argc, argv);
}
