from merchant.cli import main

main()
