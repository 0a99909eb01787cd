from chaos.fakes.serve import main
from chaos.fakes.webhook import create_app

if __name__ == "__main__":
    main("webhook", create_app)
