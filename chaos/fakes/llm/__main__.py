from chaos.fakes.llm import create_app
from chaos.fakes.serve import main

if __name__ == "__main__":
    main("llm", create_app)
