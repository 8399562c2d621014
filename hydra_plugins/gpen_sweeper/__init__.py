"""The Hydra plugin of gpen: a sweeper that names run folders by what differs between jobs."""
