from tuitune.cli import main

main()
