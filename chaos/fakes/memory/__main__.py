from chaos.fakes.memory import create_app
from chaos.fakes.serve import main

if __name__ == "__main__":
    main("memory", create_app)
