from zoolab.cli.main import main

main()
