/* `joulebench report`: being written (issue 5). */
#include <stdio.h>

#include "cli.h"

int jb_cmd_report(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    jb_cli_usage_error("report: not implemented yet");
}
