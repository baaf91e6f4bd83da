from safebench.cli.app import main

main()
