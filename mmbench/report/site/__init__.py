"""The leaderboard as a static web site."""
