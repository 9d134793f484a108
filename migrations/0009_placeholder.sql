-- placeholder, dropped at merge
SELECT 1; -- asyncpg cannot run a comment-only migration
