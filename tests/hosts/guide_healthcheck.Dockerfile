HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=2 CMD connwarden check --all || exit 1
