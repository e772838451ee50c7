from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Organization",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200, verbose_name="company name")),
                ("postal_address", models.CharField(blank=True, max_length=300, verbose_name="postal address")),
                ("contact_email", models.EmailField(blank=True, max_length=254, verbose_name="contact email")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
            ],
            options={"verbose_name": "organization", "verbose_name_plural": "organization"},
        ),
    ]
