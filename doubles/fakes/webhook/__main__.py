from doubles.fakes.serve import main
from doubles.fakes.webhook import create_app

if __name__ == "__main__":
    main("webhook", create_app)
