from doubles.fakes.llm import create_app
from doubles.fakes.serve import main

if __name__ == "__main__":
    main("llm", create_app)
