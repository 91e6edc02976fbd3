"""Exit statuses of every `cameo` subcommand."""

# 0 done; 1 failed while running; 2 the configuration or the command is wrong (restarting will
# not help until an operator changes something).
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
