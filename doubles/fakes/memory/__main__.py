from doubles.fakes.memory import create_app
from doubles.fakes.serve import main

if __name__ == "__main__":
    main("memory", create_app)
