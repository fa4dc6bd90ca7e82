from omnicx.cli.main import app

app()
